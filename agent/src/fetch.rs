//! Media downloads for the agent: the HTTP client (pinned like the control connection
//! when it is `wss`), resumable downloads into the verified cache, one download per file
//! at a time, retried with backoff until the play could no longer start.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dalaba_firmware_config::Config;
use dalaba_protocol::command::{MediaRef, PlayMedia};
use dalaba_protocol::control::{CacheUsage, FailReason, Receipt, ReceiptState};
use dalaba_protocol::{Timestamp, Volume};
use futures_util::StreamExt as _;

use crate::cache::MediaCache;
use crate::player::{PlayJob, PlayerHandle};

/// Connecting to the controller for a download gets this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A lock per media hash, so two plays of one file never download it at once.
type FetchLocks =
    Arc<Mutex<std::collections::HashMap<dalaba_protocol::MediaHash, Arc<tokio::sync::Mutex<()>>>>>;

/// The cache and how to fill it.
pub(crate) struct Fetcher {
    cache: Arc<Mutex<MediaCache>>,
    http: reqwest::Client,
    /// `http(s)://host:port` of the controller.
    base_url: String,
    /// One download at a time per file.
    locks: FetchLocks,
}

impl Fetcher {
    /// Downloads from the controller in `config` into `cache`.
    pub(crate) fn new(config: &Config, cache: MediaCache) -> anyhow::Result<Self> {
        Ok(Self {
            cache: Arc::new(Mutex::new(cache)),
            http: http_client(config)?,
            base_url: media_base(config),
            locks: FetchLocks::default(),
        })
    }

    /// Follows the configuration in use (a pushed configuration may pin another
    /// certificate, a move another controller).
    pub(crate) fn reconfigure(&mut self, config: &Config) -> anyhow::Result<()> {
        self.http = http_client(config)?;
        self.base_url = media_base(config);
        Ok(())
    }

    /// The cache's use, for status.
    pub(crate) fn usage(&self) -> CacheUsage {
        lock(&self.cache).usage()
    }

    /// Fetches `play`'s media (if not cached, retrying with backoff until the item could
    /// no longer play) and hands it to `player` at `volume`; a download that never
    /// succeeds is a `failed`/`fetch_failed` receipt. `at` is controller time now.
    pub(crate) fn queue_play(
        &self,
        play: PlayMedia,
        entry: Option<u64>,
        at: Timestamp,
        volume: Volume,
        player: PlayerHandle,
        receipts: tokio::sync::mpsc::UnboundedSender<Receipt>,
    ) {
        let (cache, http, base, locks) = (
            Arc::clone(&self.cache),
            self.http.clone(),
            self.base_url.clone(),
            Arc::clone(&self.locks),
        );
        tokio::spawn(async move {
            let lock = locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(play.media.hash)
                .or_default()
                .clone();
            // Keep trying (a flaky uplink) until the item could no longer play: its window
            // closes, or its timeline ends (a job handed to the player after that would
            // only be failed as expired, so the operator learns it then, not minutes later).
            let give_up = play
                .expires_at
                .unwrap_or(Timestamp(play.start_at.0 + 600_000_000))
                .min(Timestamp(play.start_at.0 + timeline_us(&play)));
            let deadline =
                tokio::time::Instant::now() + Duration::from_micros(give_up.0.saturating_sub(at.0));
            let mut delay = Duration::from_secs(2);
            let fetched = loop {
                let result = {
                    let _one_at_a_time = lock.lock().await;
                    fetch(&cache, &http, &base, &play.media).await
                };
                match result {
                    Err(e) if tokio::time::Instant::now() + delay < deadline => {
                        tracing::warn!(broadcast = %play.broadcast_id, "fetching media (retrying in {} s): {e:#}", delay.as_secs());
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(60));
                    }
                    other => break other,
                }
            };
            match fetched {
                Ok(file) => player.play(PlayJob {
                    broadcast: play.broadcast_id,
                    entry,
                    hash: play.media.hash,
                    file,
                    start: play.start_at,
                    volume,
                    priority: play.priority,
                    level: play.level,
                    repeat: play.repeat,
                    gap_ms: play.gap_ms,
                    mode: play.mode,
                    on_preempt: play.on_preempt,
                    expires_at: play.expires_at,
                }),
                Err(e) => {
                    tracing::warn!(broadcast = %play.broadcast_id, "fetching media: {e:#}");
                    let _ = receipts.send(Receipt {
                        broadcast_id: play.broadcast_id,
                        entry_id: entry,
                        state: ReceiptState::Failed {
                            reason: FailReason::FetchFailed,
                            detail: Some(format!("{e:#}")),
                        },
                        at,
                    });
                }
            }
        });
    }
}

/// How long `play` lasts on its timeline, µs: every repetition and the gaps between.
fn timeline_us(play: &PlayMedia) -> u64 {
    let repeat = u64::from(play.repeat.max(1));
    (repeat * play.media.duration_ms + (repeat - 1) * u64::from(play.gap_ms)) * 1000
}

/// The HTTP client for media downloads: with a `wss` controller, HTTPS pinned to the same
/// certificate.
fn http_client(config: &Config) -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a default crypto provider (no aws-lc); ring is the
    // process's provider. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        // A stalled download is retried rather than waited for forever.
        .read_timeout(Duration::from_secs(30));
    Ok(match config.controller.tls_fingerprint {
        Some(pin) if config.controller.url.scheme() == "wss" => builder
            .use_preconfigured_tls(crate::tls::client_config(pin)?)
            .build()?,
        _ => builder.build()?,
    })
}

/// `http(s)://host:port` of the controller in `config`, for media downloads.
fn media_base(config: &Config) -> String {
    let mut url = config.controller.url.clone();
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    url.set_path("");
    let _ = url.set_scheme(scheme);
    url.as_str().trim_end_matches('/').to_owned()
}

/// The cached file for `media`, downloading (or resuming) it first if needed.
async fn fetch(
    cache: &Mutex<MediaCache>,
    http: &reqwest::Client,
    base: &str,
    media: &MediaRef,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = lock(cache).get(&media.hash) {
        return Ok(path);
    }
    let mut download = lock(cache).begin(media)?;
    let mut request = http.get(format!("{base}{}", media.url));
    if download.offset() > 0 {
        request = request.header("range", format!("bytes={}-", download.offset()));
    }
    let response = request.send().await?.error_for_status()?;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        download.write(&chunk?)?;
    }
    anyhow::ensure!(
        download.is_complete(),
        "the download ended early at byte {}",
        download.offset()
    );
    Ok(lock(cache).finish(download)?)
}

fn lock<T>(cell: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    cell.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
