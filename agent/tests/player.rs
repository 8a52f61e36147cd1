//! The player on its own: a stored-media job into a WAV sink, on time and late, queue
//! order by priority, and a cancelled job; then preemption with a sink paced like a real
//! device (`wav-rt`): resume, restart and skip, jobs displaced while something more
//! important played, expiry, and two alerts of different platform levels.

use std::time::Duration;

use dalaba_agent::player::{PlayJob, spawn};
use dalaba_audio::sink::SinkSpec;
use dalaba_audio::transcode::{TranscodeOptions, transcode_file, write_wav};
use dalaba_protocol::command::OnPreempt;
use dalaba_protocol::control::{FailReason, Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, MediaHash, Mode, PlatformLevel, Priority, Timestamp, Volume};

/// A 2 s, 1 kHz tone as an Ogg Opus file in `dir`.
fn clip(dir: &std::path::Path) -> std::path::PathBuf {
    clip_of(dir, "tone", 96_000)
}

fn clip_of(dir: &std::path::Path, name: &str, samples: usize) -> std::path::PathBuf {
    let wav = dir.join(format!("{name}.wav"));
    let samples: Vec<f32> = (0..samples)
        .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).sin() * 0.3)
        .collect();
    write_wav(&wav, &samples).expect("wav");
    let opus = dir.join(format!("{name}.opus"));
    transcode_file(&wav, &opus, &TranscodeOptions::default(), &mut |_| {}).expect("transcode");
    opus
}

/// Controller time for these tests: the system clock.
fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64,
    )
}

fn at(offset: Duration, late: bool) -> Timestamp {
    let us = offset.as_micros() as u64;
    Timestamp(if late { now().0 - us } else { now().0 + us })
}

fn job(file: &std::path::Path, broadcast: u64, start: Timestamp, priority: Priority) -> PlayJob {
    PlayJob {
        broadcast: BroadcastId(broadcast),
        entry: None,
        hash: MediaHash::of(b"unused"),
        file: file.to_owned(),
        start,
        volume: Volume::MAX,
        priority,
        level: PlatformLevel::County,
        repeat: 1,
        gap_ms: 0,
        mode: Mode::Real,
        on_preempt: OnPreempt::Resume,
        expires_at: None,
    }
}

fn wav_len(path: &std::path::Path) -> u32 {
    hound::WavReader::open(path).expect("wav").duration()
}

async fn until_final(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Receipt>,
    broadcast: u64,
) -> Vec<ReceiptState> {
    let mut states = Vec::new();
    loop {
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("receipt")
            .expect("open");
        if r.broadcast_id.0 != broadcast {
            continue;
        }
        let last = matches!(
            r.state,
            ReceiptState::Done
                | ReceiptState::Failed { .. }
                | ReceiptState::Cancelled
                | ReceiptState::Preempted { .. }
        );
        states.push(r.state);
        if last {
            return states;
        }
    }
}

#[tokio::test]
async fn on_time_late_ordered_and_cancelled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = clip(dir.path());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = SinkSpec::Wav {
        path: dir.path().join("out.wav"),
    };
    let player = spawn(sink, Box::new(now), tx, Default::default(), None);

    // On time: the whole clip.
    player.play(job(&file, 1, now(), Priority::Scheduled));
    assert_eq!(
        until_final(&mut rx, 1).await,
        [ReceiptState::Playing, ReceiptState::Done]
    );
    let full = wav_len(&dir.path().join("out-b1.wav"));
    assert!((i64::from(full) - 96_000).abs() <= 960, "{full}");

    // Half a second late (a restart, a reconnect): it joins where the others are.
    player.play(job(
        &file,
        2,
        at(Duration::from_millis(500), true),
        Priority::Scheduled,
    ));
    assert_eq!(
        until_final(&mut rx, 2).await,
        [ReceiptState::Playing, ReceiptState::Done]
    );
    let late = wav_len(&dir.path().join("out-b2.wav"));
    assert!(
        (i64::from(full) - i64::from(late) - 24_000).abs() <= 960,
        "{full} vs {late}"
    );

    // Its whole timeline (2 s) over before it arrived (a restart, a late re-send): it is
    // not played, and not reported as played.
    player.play(job(
        &file,
        6,
        at(Duration::from_secs(5), true),
        Priority::Scheduled,
    ));
    let states = until_final(&mut rx, 6).await;
    assert!(
        matches!(
            states.as_slice(),
            [ReceiptState::Failed {
                reason: FailReason::Expired,
                ..
            }]
        ),
        "{states:?}"
    );
    assert!(!dir.path().join("out-b6.wav").exists());

    // Queue order: an emergency due now plays before a scheduled item due shortly after,
    // which then plays too. (Preemption of something already audible needs a sink paced in
    // real time; a WAV sink finishes faster than any command could arrive.)
    player.play(job(
        &file,
        3,
        at(Duration::from_millis(300), false),
        Priority::Scheduled,
    ));
    player.play(job(&file, 4, now(), Priority::Emergency));
    assert_eq!(
        until_final(&mut rx, 4).await,
        [ReceiptState::Playing, ReceiptState::Done]
    );
    assert_eq!(
        until_final(&mut rx, 3).await,
        [ReceiptState::Playing, ReceiptState::Done]
    );

    // A stop for something queued cancels it.
    player.play(job(
        &file,
        5,
        at(Duration::from_secs(30), false),
        Priority::Background,
    ));
    player.stop(BroadcastId(5));
    assert_eq!(until_final(&mut rx, 5).await, [ReceiptState::Cancelled]);
}

/// A player writing WAV files at a real device's pace, so a job is still sounding when the
/// next command arrives.
fn paced_player(
    dir: &std::path::Path,
) -> (
    dalaba_agent::player::PlayerHandle,
    tokio::sync::mpsc::UnboundedReceiver<Receipt>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = SinkSpec::WavRealTime {
        path: dir.join("out.wav"),
    };
    (spawn(sink, Box::new(now), tx, Default::default(), None), rx)
}

/// Waits for broadcast `broadcast`'s next receipt.
async fn next(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Receipt>,
    broadcast: u64,
) -> ReceiptState {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("receipt")
            .expect("open");
        if r.broadcast_id.0 == broadcast {
            return r.state;
        }
    }
}

fn len_of(dir: &std::path::Path, name: &str) -> i64 {
    i64::from(wav_len(&dir.join(name)))
}

#[tokio::test]
async fn preempted_content_resumes_restarts_or_is_skipped_by_its_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = clip(dir.path()); // 2 s
    let short = clip_of(dir.path(), "short", 24_000); // 0.5 s
    let (player, mut rx) = paced_player(dir.path());
    let by = |b| ReceiptState::Preempted { by: BroadcastId(b) };

    for (n, rule) in [OnPreempt::Resume, OnPreempt::Restart, OnPreempt::Skip]
        .into_iter()
        .enumerate()
    {
        let (sched, alert) = (10 + 2 * n as u64, 11 + 2 * n as u64);
        let mut scheduled = job(&long, sched, now(), Priority::Scheduled);
        scheduled.on_preempt = rule;
        player.play(scheduled);
        assert_eq!(next(&mut rx, sched).await, ReceiptState::Playing);
        // It is sounding now; an alert cuts in.
        player.play(job(&short, alert, now(), Priority::Emergency));
        assert_eq!(next(&mut rx, sched).await, by(alert), "{rule:?}");
        assert_eq!(next(&mut rx, alert).await, ReceiptState::Playing);
        assert_eq!(next(&mut rx, alert).await, ReceiptState::Done);
        let first = len_of(dir.path(), &format!("out-b{sched}.wav"));
        assert!(
            first < 96_000 - 4800,
            "{rule:?}: cut off early, {first} samples"
        );
        match rule {
            OnPreempt::Resume => {
                assert_eq!(next(&mut rx, sched).await, ReceiptState::Playing);
                assert_eq!(next(&mut rx, sched).await, ReceiptState::Done);
                // The rest, from where it was cut off: both parts make the whole clip.
                let rest = len_of(dir.path(), &format!("out-b{sched}-2.wav"));
                assert!((first + rest - 96_000).abs() <= 960, "{first} + {rest}");
            }
            OnPreempt::Restart => {
                assert_eq!(next(&mut rx, sched).await, ReceiptState::Playing);
                assert_eq!(next(&mut rx, sched).await, ReceiptState::Done);
                let again = len_of(dir.path(), &format!("out-b{sched}-2.wav"));
                assert!((again - 96_000).abs() <= 960, "{again}");
            }
            OnPreempt::Skip => {
                // Nothing more: the next receipt is the marker's.
                player.play(job(&short, 99, now(), Priority::Scheduled));
                let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((r.broadcast_id.0, r.state), (99, ReceiptState::Playing));
                assert_eq!(next(&mut rx, 99).await, ReceiptState::Done);
                assert!(!dir.path().join(format!("out-b{sched}-2.wav")).exists());
            }
        }
    }
}

#[tokio::test]
async fn items_due_during_a_live_call_or_alert_follow_their_rule_and_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = clip(dir.path());
    let short = clip_of(dir.path(), "short", 24_000);
    let (player, mut rx) = paced_player(dir.path());
    // An alert plays for 2 s; three scheduled items fall due 0.2 s into it.
    player.play(job(&long, 1, now(), Priority::Emergency));
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    let due = at(Duration::from_millis(200), false);
    let mut resume = job(&short, 2, due, Priority::Scheduled);
    resume.on_preempt = OnPreempt::Resume;
    let mut skip = job(&short, 3, due, Priority::Scheduled);
    skip.on_preempt = OnPreempt::Skip;
    let mut expiring = job(&short, 4, due, Priority::Scheduled);
    expiring.expires_at = Some(at(Duration::from_millis(500), false));
    player.play(resume);
    player.play(skip);
    player.play(expiring);
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Done);
    // Resume: plays whole once the speaker is free (it never started).
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Playing);
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Done);
    assert!((len_of(dir.path(), "out-b2.wav") - 24_000).abs() <= 960);
    // Skip: given up, naming what displaced it.
    assert_eq!(
        next(&mut rx, 3).await,
        ReceiptState::Preempted { by: BroadcastId(1) }
    );
    // Expired while waiting: never starts.
    assert!(matches!(
        next(&mut rx, 4).await,
        ReceiptState::Failed {
            reason: dalaba_protocol::control::FailReason::Expired,
            ..
        }
    ));
}

#[tokio::test]
async fn two_alerts_the_higher_platform_level_first_then_first_come() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = clip(dir.path());
    let short = clip_of(dir.path(), "short", 24_000);
    let (player, mut rx) = paced_player(dir.path());
    player.play(job(&long, 1, now(), Priority::Emergency)); // county
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    // Another county alert waits its turn (first come)...
    player.play(job(&short, 2, now(), Priority::Emergency));
    // ...a provincial one cuts in.
    let mut province = job(&short, 3, now(), Priority::Emergency);
    province.level = PlatformLevel::Province;
    player.play(province);
    assert_eq!(
        next(&mut rx, 1).await,
        ReceiptState::Preempted { by: BroadcastId(3) }
    );
    assert_eq!(next(&mut rx, 3).await, ReceiptState::Playing);
    assert_eq!(next(&mut rx, 3).await, ReceiptState::Done);
    // Then the cut-off alert resumes before the one that came after it.
    let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.broadcast_id.0, r.state), (1, ReceiptState::Playing));
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Done);
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Playing);
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Done);
}

/// `seconds` of a 600 Hz tone as live frames (20 ms, FEC) captured from `start`, the last
/// one marked end-of-stream.
fn live_frames(start: Timestamp, seconds: usize) -> Vec<dalaba_audio::jitter::Frame> {
    let mut enc = dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())
        .expect("encoder");
    let n = seconds * 50;
    (0..n)
        .map(|i| {
            let pcm: Vec<f32> = (0..960)
                .map(|k| {
                    let t = (i * 960 + k) as f32 / 48_000.0;
                    (t * 2.0 * std::f32::consts::PI * 600.0).sin() * 0.3
                })
                .collect();
            dalaba_audio::jitter::Frame {
                seq: i as u32,
                capture_us: start.0 + i as u64 * 20_000,
                samples: 960,
                fec: true,
                end_of_stream: i + 1 == n,
                payload: enc.encode(&pcm).expect("encode").to_vec(),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_scheduled_item_cut_by_a_live_call_then_the_call_cut_by_an_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = clip(dir.path());
    let short = clip_of(dir.path(), "short", 24_000);
    let (player, mut rx) = paced_player(dir.path());
    // A scheduled item (resume) is playing...
    player.play(job(&long, 1, now(), Priority::Scheduled));
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    // ...a village head calls live: the item yields.
    let (tx, frames) = std::sync::mpsc::channel();
    for f in live_frames(now(), 2) {
        tx.send(f).expect("frame");
    }
    drop(tx);
    player.live(dalaba_agent::player::LiveJob {
        broadcast: BroadcastId(2),
        stream_id: dalaba_protocol::StreamId(7),
        latency_us: 150_000,
        volume: Volume::MAX,
        priority: Priority::Live,
        level: PlatformLevel::Village,
        mode: Mode::Real,
        frames,
        idle_timeout: Duration::from_secs(5),
    });
    assert_eq!(
        next(&mut rx, 1).await,
        ReceiptState::Preempted { by: BroadcastId(2) }
    );
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Playing);
    // An alert cuts into the live call (live cannot resume: it is gone, not paused).
    player.play(job(&short, 3, now(), Priority::Emergency));
    assert_eq!(
        next(&mut rx, 2).await,
        ReceiptState::Preempted { by: BroadcastId(3) }
    );
    assert_eq!(next(&mut rx, 3).await, ReceiptState::Playing);
    assert_eq!(next(&mut rx, 3).await, ReceiptState::Done);
    // Then the scheduled item resumes where it was cut off and finishes.
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Done);
    let (first, rest) = (
        len_of(dir.path(), "out-b1.wav"),
        len_of(dir.path(), "out-b1-2.wav"),
    );
    assert!((first + rest - 96_000).abs() <= 960, "{first} + {rest}");
    // The live call was heard before the alert, briefly, at 600 Hz.
    let live = len_of(dir.path(), "out-b2.wav");
    assert!(live > 0 && live < 96_000, "{live}");
}

/// An alert that arrives ahead of its start (as the controller sends it, so every agent can
/// fetch the audio) cuts in when it becomes due, not when it arrives, and is not left
/// waiting behind the clip it cut: the player arbitrates again whenever a queued job falls
/// due, not only when a command arrives.
#[tokio::test]
async fn an_alert_sent_ahead_cuts_in_at_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = clip(dir.path()); // 2 s
    let short = clip_of(dir.path(), "short", 24_000);
    let (player, mut rx) = paced_player(dir.path());
    player.play(job(&long, 1, now(), Priority::Scheduled));
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    // Queued while the clip sounds, due 0.6 s from now.
    player.play(job(
        &short,
        2,
        at(Duration::from_millis(600), false),
        Priority::Emergency,
    ));
    assert_eq!(
        next(&mut rx, 1).await,
        ReceiptState::Preempted { by: BroadcastId(2) }
    );
    // The very next thing to sound is the alert, not the rest of the clip.
    let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.broadcast_id.0, r.state), (2, ReceiptState::Playing));
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Done);
    // The clip played until about the alert's start: not cut when the alert arrived, nor
    // let run to its end (0.6 s is 28,800 samples; allow the paced sink's 100 ms lead and
    // a 20 ms block either way).
    let first = len_of(dir.path(), "out-b1.wav");
    assert!(
        (first - 28_800).abs() <= 6_000,
        "the clip was cut after {first} samples"
    );
    // Then the clip resumes where it was cut off.
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Done);
    let rest = len_of(dir.path(), "out-b1-2.wav");
    assert!((first + rest - 96_000).abs() <= 960, "{first} + {rest}");
}

/// The same for a live call: an alert queued during the call cuts it at its start.
#[tokio::test]
async fn an_alert_sent_ahead_cuts_a_live_call_at_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let short = clip_of(dir.path(), "short", 24_000);
    let (player, mut rx) = paced_player(dir.path());
    let (frames_tx, frames_rx) = std::sync::mpsc::channel();
    for f in live_frames(now(), 3) {
        frames_tx.send(f).unwrap();
    }
    player.live(dalaba_agent::player::LiveJob {
        broadcast: BroadcastId(1),
        stream_id: dalaba_protocol::StreamId(7),
        latency_us: 100_000,
        volume: Volume::MAX,
        priority: Priority::Live,
        level: PlatformLevel::County,
        mode: Mode::Real,
        frames: frames_rx,
        idle_timeout: Duration::from_secs(5),
    });
    assert_eq!(next(&mut rx, 1).await, ReceiptState::Playing);
    player.play(job(
        &short,
        2,
        at(Duration::from_millis(500), false),
        Priority::Emergency,
    ));
    assert_eq!(
        next(&mut rx, 1).await,
        ReceiptState::Preempted { by: BroadcastId(2) }
    );
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Playing);
    let call = len_of(dir.path(), "out-b1.wav");
    assert!(
        call > 12_000,
        "the call was cut when the alert arrived, after {call} samples"
    );
    assert_eq!(next(&mut rx, 2).await, ReceiptState::Done);
    drop(frames_tx);
}
