//! Simulated agents on one event loop: a thread with one `mio` poll owns every simulated
//! agent's socket, TLS connection and protocol session (no task per agent), so the load
//! generator's own CPU is small, measurable and apart from the controller's.
//!
//! A simulated agent is protocol-level and sans-IO all the way: a non-blocking TCP
//! connection, `rustls`'s `ClientConnection` pinned to the controller's certificate as
//! the agent pins it, a minimal WebSocket client (the HTTP upgrade, masked frames out,
//! unmasked frames in; the `Sec-WebSocket-Accept` answer is not checked) and the agent's
//! own `Session` (enrol or log in, clock sync, heartbeats, every command's signature
//! verified). It checks every live frame it is sent (stream, sequence, delivery lag:
//! arrival minus capture time, one machine and one clock), answers `play_media` with
//! `waiting` at once and `playing` when its start comes, without downloading or decoding
//! anything, and comes back after a `goodbye` or a lost connection as the agent's daemon
//! does: at a random moment in the window, or after its `Backoff`, connecting, TLS and
//! the WebSocket handshake each within 10 s.

use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{BufRead as _, ErrorKind, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use dalaba_agent::session::{Backoff, Event, Session, SessionConfig};
use dalaba_protocol::command::Command;
use dalaba_protocol::control::{AgentMessage, Receipt, ReceiptState};
use dalaba_protocol::keys::PublicKey;
use dalaba_protocol::{AgentId, BroadcastId, Timestamp, audio_frame};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::rig::now_us;

mod ws;

/// Where the simulated agents connect, and what they trust.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    /// The controller's agent endpoint.
    pub(crate) addr: SocketAddr,
    /// SHA-256 of its TLS certificate.
    pub(crate) pin: [u8; 32],
    /// Its command key.
    pub(crate) key: PublicKey,
}

/// Delivery lags of live frames, 1 ms buckets up to 5 s.
pub(crate) struct Lags {
    buckets: Vec<AtomicU64>,
    pub(crate) frames: AtomicU64,
    pub(crate) on_time: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    /// Frames late (not on time) by second of the stream (by sequence number, 50 frames a
    /// second; the last bucket also holds everything after it): whether lateness is
    /// steady, at the start, or in bursts.
    late_by_second: Vec<AtomicU64>,
    /// A frame is on time when its lag is at most this, µs.
    on_time_us: AtomicU64,
}

impl Lags {
    fn new(on_time_us: u64) -> Self {
        Self {
            buckets: (0..5001).map(|_| AtomicU64::new(0)).collect(),
            frames: AtomicU64::new(0),
            on_time: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            late_by_second: (0..600).map(|_| AtomicU64::new(0)).collect(),
            on_time_us: AtomicU64::new(on_time_us),
        }
    }

    /// From now on a frame is on time when its lag is at most `on_time`.
    pub(crate) fn set_on_time(&self, on_time: Duration) {
        self.on_time_us
            .store(on_time.as_micros() as u64, Ordering::Relaxed);
    }

    fn record(&self, seq: u32, lag_us: u64) {
        let ms = (lag_us / 1000).min(5000) as usize;
        self.buckets[ms].fetch_add(1, Ordering::Relaxed);
        self.frames.fetch_add(1, Ordering::Relaxed);
        if lag_us <= self.on_time_us.load(Ordering::Relaxed) {
            self.on_time.fetch_add(1, Ordering::Relaxed);
        } else {
            let second = (seq / 50) as usize;
            self.late_by_second[second.min(self.late_by_second.len() - 1)]
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Late frames in each second of a stream of `seconds`.
    pub(crate) fn late_by_second(&self, seconds: usize) -> Vec<u64> {
        let last = seconds.min(self.late_by_second.len());
        self.late_by_second[..last]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The lag (ms, bucket middle) at fraction `p` of the frames; NaN when none came.
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        let want = (total as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (ms, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want && total > 0 {
                return ms as f64 + 0.5;
            }
        }
        f64::NAN
    }
}

/// What the simulated agents saw. `ready` and `synced` count sessions with the controller
/// that was listening (`epoch`) when their connection was made.
pub(crate) struct Counters {
    /// Bumped by the benchmark when a controller stops or starts.
    pub(crate) epoch: AtomicU64,
    /// Agents in session.
    pub(crate) ready: AtomicU64,
    /// Agents sent their schedule (`schedule_sync`) in a session.
    pub(crate) synced: AtomicU64,
    /// Sessions given up because the controller never answered the login (30 s).
    pub(crate) stalled: AtomicU64,
    /// Sessions that ended with the controller's `goodbye`.
    pub(crate) told_to_leave: AtomicU64,
    /// Agents waiting to reconnect, now.
    pub(crate) waiting: AtomicU64,
    /// `play_media` commands received, and when the last one came (µs).
    pub(crate) alert_received: AtomicU64,
    pub(crate) alert_last_us: AtomicU64,
    /// Live frames of the stream each agent was told to play.
    pub(crate) lags: Lags,
    /// Why sessions ended, with how many.
    ended: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn ended(&self, why: &str) {
        let why: String = why.chars().take(80).collect();
        *self
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(why)
            .or_default() += 1;
    }

    /// Why sessions ended, most frequent first ("" when none did), and forgets them.
    pub(crate) fn take_ended(&self) -> String {
        let mut all: Vec<(String, u64)> =
            std::mem::take(&mut *self.ended.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.1));
        all.iter()
            .map(|(why, n)| format!("{n}× {why}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The simulated agents, running until dropped.
pub(crate) struct Fleet {
    pub(crate) counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const WAKER: Token = Token(usize::MAX);

/// The simulated agents' loop never sleeps (`--generator-busy-polls`): it polls its
/// sockets without waiting, so the controller's writes find no sleeping thread to wake.
/// On loopback the sender's core does the receiver's TCP work in the same call, waking it
/// included (an inter-processor interrupt, costly in a VM); over a real network none of
/// that is the controller's. Its own CPU is then a whole core and says nothing.
pub(crate) static BUSY_POLL: AtomicBool = AtomicBool::new(false);

impl Fleet {
    /// Starts one agent per enrolment token in `tokens` against `target`, at most
    /// `setting_up` of them connecting or logging in at once (the rest queue; pass
    /// `usize::MAX` to let them all come at once, as real agents do). A frame is on time
    /// when it arrives within `on_time` of its capture.
    pub(crate) fn start(
        target: Target,
        tokens: Vec<String>,
        setting_up: usize,
        on_time: Duration,
    ) -> anyhow::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let counters = Arc::new(Counters {
            epoch: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            told_to_leave: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            alert_received: AtomicU64::new(0),
            alert_last_us: AtomicU64::new(0),
            lags: Lags::new(on_time.as_micros() as u64),
            ended: Mutex::new(BTreeMap::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        // A full handshake, the pin checked, at every connection: the agent makes its
        // configuration afresh per connection, so it never resumes a TLS session.
        let mut tls = dalaba_agent::tls::client_config(target.pin)?;
        tls.resumption = rustls::client::Resumption::disabled();
        let mut event_loop = Loop {
            poll,
            tls: Arc::new(tls),
            target,
            counters: Arc::clone(&counters),
            timers: BinaryHeap::new(),
            queue: VecDeque::new(),
            setting_up: 0,
            setting_up_max: setting_up.max(1),
            agents: tokens
                .into_iter()
                .map(|token| Sim {
                    me: Me {
                        key: ed25519_dalek::SigningKey::from_bytes(&rand::random()),
                        id: None,
                        token,
                    },
                    backoff: Backoff::default(),
                    link: Link::Idle { until: 0 },
                    waiting: false,
                    armed: 0,
                })
                .collect(),
        };
        for i in 0..event_loop.agents.len() {
            event_loop.arm(i, 1);
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("simulated agents".into())
            .spawn(move || event_loop.run(&flag))
            .context("starting the simulated agents' thread")?;
        Ok(Self {
            counters,
            stop,
            waker,
            thread: Some(thread),
        })
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Who a simulated agent is: its identity key, its enrolment token, and its id once
/// enrolled (it logs in with it afterwards, as the agent does).
struct Me {
    key: ed25519_dalek::SigningKey,
    id: Option<AgentId>,
    token: String,
}

/// One simulated agent, across its connections.
struct Sim {
    me: Me,
    backoff: Backoff,
    link: Link,
    /// Counted in `Counters::waiting`.
    waiting: bool,
    /// The time (µs) of this agent's live timer entry; others for it are stale.
    armed: u64,
}

enum Link {
    /// Not connected; try from `until` (µs).
    Idle {
        until: u64,
    },
    /// Due, waiting for a set-up slot.
    Queued,
    Up(Box<Conn>),
}

/// How a connection ended.
enum Ended {
    /// `goodbye`: come back at a random moment within this window.
    Leaving(Duration),
    /// Dropped, refused or failed, and why: back off.
    Lost(String),
}

impl Ended {
    /// Lost while doing `what`, because of `e`.
    fn lost(what: &str, e: &dyn std::fmt::Display) -> Self {
        Self::Lost(format!("{what}: {e}"))
    }
}

/// Connecting, TLS, the WebSocket handshake: each within this long.
const STEP_US: u64 = 10_000_000;
/// The session must be up this long after the WebSocket is.
const LOGIN_US: u64 = 30_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Connecting,
    Tls,
    WebSocket,
    Open,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Connecting => "connecting",
            Stage::Tls => "TLS",
            Stage::WebSocket | Stage::Open => "WebSocket",
        }
    }
}

/// One connection: TCP, TLS, WebSocket and the protocol session.
struct Conn {
    tcp: TcpStream,
    tls: rustls::ClientConnection,
    stage: Stage,
    /// Decrypted bytes not yet parsed (the upgrade answer, then WebSocket frames).
    inbox: Vec<u8>,
    /// The controller this connection counts for (`Counters::epoch` when it was made).
    epoch: u64,
    opened: u64,
    /// Until when the current stage may take (µs).
    deadline: u64,
    session: Option<Session>,
    /// Holds one of the loop's set-up slots (until ready or closed).
    slot: bool,
    ready: bool,
    synced: bool,
    /// The live stream to check: (stream id, next sequence number).
    stream: Option<(u32, u32)>,
    /// `play_media` commands, answered `playing` at their start (µs).
    starts: Vec<(u64, BroadcastId)>,
}

struct Loop {
    poll: Poll,
    tls: Arc<rustls::ClientConfig>,
    target: Target,
    counters: Arc<Counters>,
    agents: Vec<Sim>,
    /// (when, agent), earliest first; an entry is live when it equals the agent's `armed`.
    timers: BinaryHeap<std::cmp::Reverse<(u64, usize)>>,
    /// Agents waiting for a set-up slot.
    queue: VecDeque<usize>,
    setting_up: usize,
    setting_up_max: usize,
}

impl Loop {
    fn run(mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(4096);
        while !stop.load(Ordering::Relaxed) {
            let now = now_us();
            while let Some(&std::cmp::Reverse((at, i))) = self.timers.peek() {
                if at > now {
                    break;
                }
                self.timers.pop();
                if self.agents[i].armed == at {
                    self.agents[i].armed = 0;
                    self.drive(i, now);
                }
            }
            let wait = if BUSY_POLL.load(Ordering::Relaxed) {
                Duration::ZERO
            } else {
                self.timers.peek().map_or(Duration::from_millis(100), |t| {
                    Duration::from_micros(t.0.0.saturating_sub(now_us()))
                        .min(Duration::from_millis(100))
                })
            };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    eprintln!("simulated agents: poll: {e}");
                    return;
                }
            }
            let now = now_us();
            for event in &events {
                if event.token() != WAKER {
                    self.drive(event.token().0, now);
                }
            }
        }
    }

    /// Sets agent `i`'s timer to `at` (µs; 0: none).
    fn arm(&mut self, i: usize, at: u64) {
        if self.agents[i].armed != at {
            self.agents[i].armed = at;
            if at > 0 {
                self.timers.push(std::cmp::Reverse((at, i)));
            }
        }
    }

    /// Does what agent `i` can do now: connect when due, move its connection on.
    fn drive(&mut self, i: usize, now: u64) {
        let sim = &mut self.agents[i];
        let stepped = match &mut sim.link {
            Link::Idle { until } if *until <= now => return self.connect(i, now),
            Link::Idle { until } => {
                let at = *until;
                return self.arm(i, at);
            }
            Link::Queued => return,
            Link::Up(conn) => conn.step(now, &self.counters, &mut sim.me, self.target.key),
        };
        if let Err(ended) = stepped {
            return self.close(i, ended, now);
        }
        let Link::Up(conn) = &mut self.agents[i].link else {
            return;
        };
        let set_up = conn.ready && std::mem::take(&mut conn.slot);
        let at = conn.next_wake();
        self.arm(i, at);
        if set_up {
            self.release_slot(now);
        }
    }

    fn connect(&mut self, i: usize, now: u64) {
        if self.setting_up >= self.setting_up_max {
            self.agents[i].link = Link::Queued;
            self.queue.push_back(i);
            return;
        }
        let sim = &mut self.agents[i];
        if std::mem::take(&mut sim.waiting) {
            self.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        match Conn::open(
            &self.poll,
            Token(i),
            &self.target,
            &self.tls,
            now,
            &self.counters,
        ) {
            Ok(conn) => {
                self.setting_up += 1;
                self.agents[i].link = Link::Up(Box::new(conn));
                self.arm(i, now + STEP_US);
            }
            Err(e) => {
                self.agents[i].link = Link::Idle { until: 0 };
                self.close(i, Ended::Lost(format!("connecting: {e}")), now);
            }
        }
    }

    /// Ends agent `i`'s connection (if any) and schedules its next.
    fn close(&mut self, i: usize, ended: Ended, now: u64) {
        let sim = &mut self.agents[i];
        let mut lasted = 0;
        let mut earlier = false;
        if let Link::Up(conn) = std::mem::replace(&mut sim.link, Link::Idle { until: 0 }) {
            let mut conn = *conn;
            let _ = self.poll.registry().deregister(&mut conn.tcp);
            lasted = now.saturating_sub(conn.opened);
            earlier = conn.stage != Stage::Connecting
                && conn.epoch != self.counters.epoch.load(Ordering::Relaxed);
            if conn.slot {
                self.release_slot(now);
            }
        }
        let sim = &mut self.agents[i];
        let delay = match ended {
            Ended::Leaving(within) => {
                sim.backoff.reset();
                within.mul_f64(rand::random::<f64>())
            }
            Ended::Lost(why) => {
                if earlier {
                    self.counters
                        .ended(&format!("{why} (made with the controller before)"));
                } else {
                    self.counters.ended(&why);
                }
                if lasted > 60_000_000 {
                    sim.backoff.reset();
                }
                sim.backoff.next_delay(rand::random::<f64>())
            }
        };
        let until = now + delay.as_micros() as u64;
        sim.link = Link::Idle { until };
        sim.waiting = true;
        self.counters.waiting.fetch_add(1, Ordering::Relaxed);
        self.arm(i, until.max(1));
    }

    /// A set-up finished: the next queued agent may connect.
    fn release_slot(&mut self, now: u64) {
        self.setting_up -= 1;
        if let Some(next) = self.queue.pop_front() {
            self.connect(next, now);
        }
    }
}

impl Conn {
    fn open(
        poll: &Poll,
        token: Token,
        target: &Target,
        tls: &Arc<rustls::ClientConfig>,
        now: u64,
        counters: &Counters,
    ) -> anyhow::Result<Self> {
        let mut tcp = TcpStream::connect(target.addr)?;
        tcp.set_nodelay(true)?;
        poll.registry()
            .register(&mut tcp, token, Interest::READABLE | Interest::WRITABLE)?;
        let name = rustls::pki_types::ServerName::IpAddress(target.addr.ip().into());
        Ok(Self {
            tcp,
            tls: rustls::ClientConnection::new(Arc::clone(tls), name)?,
            stage: Stage::Connecting,
            inbox: Vec::with_capacity(4096),
            epoch: counters.epoch.load(Ordering::Relaxed),
            opened: now,
            deadline: now + STEP_US,
            session: None,
            slot: true,
            ready: false,
            synced: false,
            stream: None,
            starts: Vec::new(),
        })
    }

    /// When this connection next needs driving without an event (µs).
    fn next_wake(&self) -> u64 {
        let mut at = if self.ready { u64::MAX } else { self.deadline };
        if let Some(s) = &self.session {
            at = at.min(s.poll_timeout().unwrap_or(u64::MAX));
        }
        at = at.min(self.starts.iter().map(|s| s.0).min().unwrap_or(u64::MAX));
        if at == u64::MAX { 0 } else { at.max(1) }
    }

    /// Reads, handles and writes what it can; `Err` when the connection is over.
    fn step(
        &mut self,
        now: u64,
        counters: &Counters,
        me: &mut Me,
        controller_key: PublicKey,
    ) -> Result<(), Ended> {
        if self.stage == Stage::Connecting {
            if let Some(e) = self
                .tcp
                .take_error()
                .map_err(|e| Ended::lost("connecting", &e))?
            {
                return Err(Ended::lost("connecting", &e));
            }
            match self.tcp.peer_addr() {
                Ok(_) => {
                    // Counted for the controller that answered: the one listening now.
                    self.epoch = counters.epoch.load(Ordering::Relaxed);
                    self.stage = Stage::Tls;
                    self.deadline = now + STEP_US;
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => {}
                Err(e) => return Err(Ended::lost("connecting", &e)),
            }
        }
        if self.stage != Stage::Connecting {
            let eof = self.read()?;
            if self.stage == Stage::Tls && !self.tls.is_handshaking() {
                let request = format!(
                    "GET /agent/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                    "dGhlIHNhbXBsZSBub25jZQ=="
                );
                self.tls
                    .writer()
                    .write_all(request.as_bytes())
                    .map_err(|e| Ended::lost("WebSocket", &e))?;
                self.stage = Stage::WebSocket;
                self.deadline = now + STEP_US;
            }
            if self.stage == Stage::WebSocket {
                self.upgraded(now)?;
            }
            if self.stage == Stage::Open {
                self.converse(now, counters, me, controller_key)?;
            }
            self.write()?;
            if eof {
                return Err(Ended::Lost(match (self.stage, self.ready) {
                    (Stage::Open, true) => "connection closed".into(),
                    (Stage::Open, false) => {
                        "connection closed before the login was answered".into()
                    }
                    (stage, _) => format!("connection closed during {}", stage.name()),
                }));
            }
        }
        if !self.ready && now >= self.deadline {
            if self.stage == Stage::Open {
                counters.stalled.fetch_add(1, Ordering::Relaxed);
                return Err(Ended::Lost("login unanswered for 30 s".into()));
            }
            let stage = self.stage.name();
            return Err(Ended::Lost(format!("{stage}: no answer within 10 s")));
        }
        Ok(())
    }

    /// Reads everything the socket has into `inbox`, decrypted; whether it ended.
    fn read(&mut self) -> Result<bool, Ended> {
        // Until the socket would block: epoll is edge-triggered here, and a short read
        // does not mean the peer's FIN is not already queued behind the data (stopping
        // there left a closed connection unnoticed until the 10 s stage limit).
        loop {
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(true),
                Ok(_) => {
                    self.tls
                        .process_new_packets()
                        .map_err(|e| Ended::lost("TLS", &e))?;
                    let mut reader = self.tls.reader();
                    loop {
                        match reader.fill_buf() {
                            Ok([]) => return Ok(true),
                            Ok(chunk) => {
                                let n = chunk.len();
                                self.inbox.extend_from_slice(chunk);
                                reader.consume(n);
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => return Err(Ended::lost("read", &e)),
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Ended::lost("read", &e)),
            }
        }
    }

    /// Sends what TLS has to send, as far as the socket takes it.
    fn write(&mut self) -> Result<(), Ended> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Ended::Lost(format!("write: {e}"))),
            }
        }
        Ok(())
    }

    /// The upgrade's answer, once all of it is in: `101` opens the session.
    fn upgraded(&mut self, now: u64) -> Result<(), Ended> {
        let Some(end) = self.inbox.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(());
        };
        let head = String::from_utf8_lossy(&self.inbox[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            let status = head.lines().next().unwrap_or("").to_owned();
            return Err(Ended::Lost(format!("WebSocket: {status}")));
        }
        self.inbox.drain(..end + 4);
        self.stage = Stage::Open;
        self.deadline = now + LOGIN_US;
        Ok(())
    }

    /// The open WebSocket: frames in, the session, messages out.
    fn converse(
        &mut self,
        now: u64,
        counters: &Counters,
        me: &mut Me,
        controller_key: PublicKey,
    ) -> Result<(), Ended> {
        let session = self.session.get_or_insert_with(|| {
            Session::new(
                SessionConfig {
                    agent_id: me.id.clone(),
                    enrolment_token: me.id.is_none().then(|| me.token.clone()),
                    controller_key,
                    software: "dalaba-loadtest".into(),
                    last_command_seq: 0,
                },
                me.key.clone(),
                now,
            )
        });
        let inbox = std::mem::take(&mut self.inbox);
        let mut at = 0;
        let mut closed = false;
        while let Some(frame) = ws::parse(&inbox[at..]).map_err(|e| Ended::Lost(e.into()))? {
            let payload = &inbox[at + frame.payload.start..at + frame.payload.end];
            match frame.opcode {
                ws::TEXT => session.handle_message(payload, now),
                ws::BINARY => live_frame(&mut self.stream, payload, now, counters),
                ws::PING => ws::send(&mut self.tls, ws::PONG, payload),
                ws::CLOSE => {
                    // After what came before it (a `goodbye` is acted on, not lost).
                    closed = true;
                    break;
                }
                _ => {}
            }
            at += frame.len;
        }
        self.inbox = inbox;
        self.inbox.drain(..at);
        self.starts.retain(|&(start, broadcast_id)| {
            if start > now {
                return true;
            }
            session.send(AgentMessage::Receipt(Receipt {
                broadcast_id,
                entry_id: None,
                state: ReceiptState::Playing,
                at: Timestamp(now),
            }));
            false
        });
        let counts = |c: &AtomicU64| {
            if counters.epoch.load(Ordering::Relaxed) == self.epoch {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        loop {
            while let Some(m) = session.poll_transmit(now) {
                ws::send(&mut self.tls, ws::TEXT, m.to_json().as_bytes());
            }
            let Some(event) = session.poll_event() else {
                if closed {
                    return Err(Ended::Lost("the controller closed the WebSocket".into()));
                }
                return Ok(());
            };
            match event {
                Event::Enrolled(agent) => me.id = Some(agent),
                Event::Ready => {
                    self.ready = true;
                    counts(&counters.ready);
                }
                Event::Command(c) => match c.command {
                    Command::StartLive(s) => self.stream = Some((s.stream_id.0, 0)),
                    Command::PlayMedia(p) => {
                        counters.alert_received.fetch_add(1, Ordering::Relaxed);
                        counters.alert_last_us.fetch_max(now, Ordering::Relaxed);
                        session.send(AgentMessage::Receipt(Receipt {
                            broadcast_id: p.broadcast_id,
                            entry_id: None,
                            state: ReceiptState::Waiting,
                            at: Timestamp(now),
                        }));
                        self.starts.push((p.start_at.0, p.broadcast_id));
                    }
                    Command::ScheduleSync(_) if !self.synced => {
                        self.synced = true;
                        counts(&counters.synced);
                    }
                    _ => {}
                },
                Event::Leaving { within, .. } => {
                    counters.told_to_leave.fetch_add(1, Ordering::Relaxed);
                    return Err(Ended::Leaving(within));
                }
                Event::Closed { reason, .. } => {
                    return Err(Ended::Lost(format!("closed: {reason}")));
                }
                _ => {}
            }
        }
    }
}

/// A live frame: counted with its lag when it belongs to the stream being played, its
/// sequence checked.
fn live_frame(stream: &mut Option<(u32, u32)>, bytes: &[u8], now: u64, counters: &Counters) {
    let (Ok(f), Some((id, next))) = (audio_frame::decode_message(bytes), stream.as_mut()) else {
        return;
    };
    if f.header.stream_id.0 == *id && f.header.samples > 0 {
        if f.header.seq != *next {
            counters.lags.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        *next = f.header.seq.wrapping_add(1);
        counters
            .lags
            .record(f.header.seq, now.saturating_sub(f.header.capture_time.0));
    }
}
