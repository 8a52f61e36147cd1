//! What the protocol costs per message: signing and verifying commands (the controller
//! signs one per targeted agent), decoding control messages and audio frames.
//!
//! `cargo bench -p dalaba-protocol` prints the figures.

use criterion::{Criterion, criterion_group, criterion_main};
use dalaba_protocol::audio_frame::{self, AudioHeader, FrameFlags};
use dalaba_protocol::command::{Command, MediaRef, OnPreempt, PlayMedia, SignedCommand};
use dalaba_protocol::{
    AgentId, BroadcastId, CommandSigner, CommandVerifier, MediaHash, Mode, PlatformLevel, Priority,
    StreamId, Timestamp, decode_agent_message,
};
use ed25519_dalek::SigningKey;
use std::hint::black_box;

const T0: u64 = 1_800_000_000_000_000;

fn play_command(agent: &AgentId) -> SignedCommand {
    SignedCommand {
        seq: 42,
        audience: agent.clone(),
        issued_at: Timestamp(T0),
        not_before: Timestamp(T0),
        not_after: Timestamp(T0 + 60_000_000),
        command: Command::PlayMedia(PlayMedia {
            broadcast_id: BroadcastId(9),
            media: MediaRef {
                hash: MediaHash::of(b"flood warning"),
                size: 48_213,
                duration_ms: 30_040,
                url: "/api/media/x/file".into(),
            },
            start_at: Timestamp(T0 + 2_000_000),
            priority: Priority::Emergency,
            level: PlatformLevel::County,
            volume: None,
            repeat: 3,
            gap_ms: 2000,
            mode: Mode::Real,
            severity: None,
            on_preempt: OnPreempt::Restart,
            expires_at: None,
        }),
    }
}

fn bench(c: &mut Criterion) {
    let agent: AgentId = "village-7".parse().expect("valid id");
    let signer = CommandSigner::new(SigningKey::from_bytes(&[42; 32]));
    let command = play_command(&agent);
    let envelope = signer.sign(&command);
    let verifier = CommandVerifier::new(signer.public_key(), agent, 0);

    c.bench_function("sign play_media (serialise + Ed25519)", |b| {
        b.iter(|| signer.sign(black_box(&command)))
    });
    c.bench_function("verify play_media (Ed25519 + parse + checks)", |b| {
        b.iter(|| verifier.check(black_box(&envelope), Timestamp(T0 + 1)))
    });

    let status = br#"{"type":"status","playing":null,"queued":[],"relays":[{"channel":1,"state":"on"}],"volume":80,"last_error":null,"firmware_version":"0.1.0","config_version":"c1","schedule_version":3,"cache":{"used_bytes":5242880,"capacity_bytes":1073741824,"items":4},"clock_offset_us":-1250,"uptime_s":3600}"#;
    c.bench_function("decode status message", |b| {
        b.iter(|| decode_agent_message(black_box(status)))
    });

    let frame = AudioHeader {
        stream_id: StreamId(3),
        seq: 1,
        capture_time: Timestamp(T0),
        samples: 960,
        flags: FrameFlags::FEC,
    }
    .to_frame(&[0x55; 60])
    .expect("valid frame");
    c.bench_function("decode 24 kbps audio frame", |b| {
        b.iter(|| audio_frame::decode_message(black_box(&frame)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
