//! The player on its own: a stored-media job into a WAV sink, on time and late, queue
//! order by priority, and a cancelled job.

use std::time::{Duration, Instant};

use dalaba_agent::player::{PlayJob, spawn};
use dalaba_audio::sink::SinkSpec;
use dalaba_audio::transcode::{TranscodeOptions, transcode_file, write_wav};
use dalaba_protocol::control::{Receipt, ReceiptState};
use dalaba_protocol::{BroadcastId, MediaHash, Priority, Timestamp, Volume};

/// A 2 s, 1 kHz tone as an Ogg Opus file in `dir`.
fn clip(dir: &std::path::Path) -> std::path::PathBuf {
    let wav = dir.join("tone.wav");
    let samples: Vec<f32> = (0..96_000)
        .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).sin() * 0.3)
        .collect();
    write_wav(&wav, &samples).expect("wav");
    let opus = dir.join("tone.opus");
    transcode_file(&wav, &opus, &TranscodeOptions::default(), &mut |_| {}).expect("transcode");
    opus
}

fn job(file: &std::path::Path, broadcast: u64, start: Instant, priority: Priority) -> PlayJob {
    PlayJob {
        broadcast: BroadcastId(broadcast),
        hash: MediaHash::of(b"unused"),
        file: file.to_owned(),
        start,
        volume: Volume::MAX,
        priority,
        repeat: 1,
        gap_ms: 0,
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
    let player = spawn(
        sink,
        Box::new(|| Timestamp(1)),
        tx,
        Default::default(),
        None,
    );

    // On time: the whole clip.
    player.play(job(&file, 1, Instant::now(), Priority::Scheduled));
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
        Instant::now() - Duration::from_millis(500),
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

    // Queue order: an emergency due now plays before a scheduled item due shortly after,
    // which then plays too. (Preemption of something already audible needs a sink paced in
    // real time; a WAV sink finishes faster than any command could arrive.)
    player.play(job(
        &file,
        3,
        Instant::now() + Duration::from_millis(300),
        Priority::Scheduled,
    ));
    player.play(job(&file, 4, Instant::now(), Priority::Emergency));
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
        Instant::now() + Duration::from_secs(30),
        Priority::Background,
    ));
    player.stop(BroadcastId(5));
    assert_eq!(until_final(&mut rx, 5).await, [ReceiptState::Cancelled]);
}
