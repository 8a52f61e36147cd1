//! proptest strategies for every protocol type, shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use dalaba_protocol::command::*;
use dalaba_protocol::control::*;
use dalaba_protocol::envelope::SignedEnvelope;
use dalaba_protocol::keys::{Base64Bytes, Challenge, KeyId, PublicKey, Signature};
use dalaba_protocol::types::*;
use ed25519_dalek::SigningKey;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

pub fn agent_id() -> impl Strategy<Value = AgentId> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| s.parse().expect("regex matches the id rules"))
}

pub fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, backslashes and control characters.
    any::<String>().prop_map(|s| s.chars().take(40).collect())
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp)
}

pub fn media_hash() -> impl Strategy<Value = MediaHash> {
    any::<[u8; 32]>().prop_map(MediaHash::from_digest)
}

pub fn volume() -> impl Strategy<Value = Volume> {
    (0u8..=100).prop_map(|v| Volume::new(v).expect("in range"))
}

pub fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Background),
        Just(Priority::Scheduled),
        Just(Priority::Live),
        Just(Priority::Emergency)
    ]
}

pub fn level() -> impl Strategy<Value = PlatformLevel> {
    prop_oneof![
        Just(PlatformLevel::Village),
        Just(PlatformLevel::Township),
        Just(PlatformLevel::County),
        Just(PlatformLevel::City),
        Just(PlatformLevel::Province),
        Just(PlatformLevel::National)
    ]
}

pub fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Real), Just(Mode::Test), Just(Mode::Drill)]
}

pub fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Red),
        Just(Severity::Orange),
        Just(Severity::Yellow),
        Just(Severity::Blue)
    ]
}

pub fn relay_state() -> impl Strategy<Value = RelayState> {
    prop_oneof![Just(RelayState::On), Just(RelayState::Off)]
}

pub fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(|seed| SigningKey::from_bytes(&seed).verifying_key().into())
}

pub fn signature() -> impl Strategy<Value = Signature> {
    any::<[u8; 64]>().prop_map(|b| ed25519_dalek::Signature::from_bytes(&b).into())
}

pub fn key_id() -> impl Strategy<Value = KeyId> {
    any::<[u8; 8]>().prop_map(|b| hex::encode(b).parse().expect("16 hex digits"))
}

pub fn media_ref() -> impl Strategy<Value = MediaRef> {
    (media_hash(), any::<u64>(), any::<u64>(), text()).prop_map(|(hash, size, duration_ms, url)| {
        MediaRef {
            hash,
            size,
            duration_ms,
            url,
        }
    })
}

pub fn on_preempt() -> impl Strategy<Value = OnPreempt> {
    prop_oneof![
        Just(OnPreempt::Resume),
        Just(OnPreempt::Restart),
        Just(OnPreempt::Skip)
    ]
}

pub fn play_media() -> impl Strategy<Value = PlayMedia> {
    (
        (any::<u64>(), media_ref(), timestamp(), priority(), level()),
        (
            option::of(volume()),
            any::<u16>(),
            any::<u32>(),
            mode(),
            option::of(severity()),
            on_preempt(),
            option::of(timestamp()),
        ),
    )
        .prop_map(
            |(
                (id, media, start_at, priority, level),
                (volume, repeat, gap_ms, mode, severity, on_preempt, expires_at),
            )| PlayMedia {
                broadcast_id: BroadcastId(id),
                media,
                start_at,
                priority,
                level,
                volume,
                repeat,
                gap_ms,
                mode,
                severity,
                on_preempt,
                expires_at,
            },
        )
}

pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        play_media().prop_map(Command::PlayMedia),
        (
            any::<u64>(),
            any::<u32>(),
            priority(),
            level(),
            option::of(volume()),
            mode(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(b, s, priority, level, volume, mode, latency_ms, idle)| {
                Command::StartLive(StartLive {
                    broadcast_id: BroadcastId(b),
                    stream_id: StreamId(s),
                    priority,
                    level,
                    volume,
                    mode,
                    latency_ms,
                    idle_timeout_ms: idle,
                })
            }),
        (any::<u64>(), any::<u32>()).prop_map(|(b, s)| Command::StopLive(StopLive {
            broadcast_id: BroadcastId(b),
            stream_id: StreamId(s)
        })),
        any::<u64>().prop_map(|b| Command::Stop(Stop {
            broadcast_id: BroadcastId(b)
        })),
        Just(Command::StopAll),
        volume().prop_map(|volume| Command::SetVolume(SetVolume { volume })),
        (any::<u8>(), relay_state())
            .prop_map(|(channel, state)| Command::RelaySet(RelaySet { channel, state })),
        Just(Command::RelayAllOff),
        vec(media_ref(), 0..4).prop_map(|items| Command::FetchMedia(FetchMedia { items })),
        vec(media_hash(), 0..4).prop_map(|hashes| Command::EvictMedia(EvictMedia { hashes })),
        (text(), text()).prop_map(
            |(config_version, document)| Command::ConfigPush(ConfigPush {
                config_version,
                document
            })
        ),
        (text(), text(), public_key(), proptest::option::of(text())).prop_map(
            |(config_version, url, public_key, tls_fingerprint)| Command::MoveController(
                MoveController {
                    config_version,
                    url,
                    public_key,
                    tls_fingerprint
                }
            )
        ),
        (
            any::<u64>(),
            vec(
                (any::<u64>(), play_media())
                    .prop_map(|(entry_id, play)| ScheduleEntry { entry_id, play }),
                0..3
            )
        )
            .prop_map(
                |(schedule_version, entries)| Command::ScheduleSync(ScheduleSync {
                    schedule_version,
                    entries
                })
            ),
    ]
}

pub fn signed_command() -> impl Strategy<Value = SignedCommand> {
    (
        any::<u64>(),
        agent_id(),
        timestamp(),
        timestamp(),
        timestamp(),
        command(),
    )
        .prop_map(
            |(seq, audience, issued_at, not_before, not_after, command)| SignedCommand {
                seq,
                audience,
                issued_at,
                not_before,
                not_after,
                command,
            },
        )
}

pub fn envelope() -> impl Strategy<Value = SignedEnvelope> {
    (key_id(), vec(any::<u8>(), 0..300), signature()).prop_map(|(key_id, payload, signature)| {
        SignedEnvelope {
            key_id,
            payload: Base64Bytes(payload),
            signature,
        }
    })
}

pub fn error_message() -> impl Strategy<Value = ErrorMessage> {
    let code = prop_oneof![
        Just(ErrorCode::UnsupportedVersion),
        Just(ErrorCode::MalformedMessage),
        Just(ErrorCode::UnexpectedMessage),
        Just(ErrorCode::EnrolmentRefused),
        Just(ErrorCode::LoginRefused),
        Just(ErrorCode::Revoked),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Internal),
        Just(ErrorCode::Other),
    ];
    (code, text(), vec(any::<u16>(), 0..4)).prop_map(|(code, message, supported_versions)| {
        ErrorMessage {
            code,
            message,
            supported_versions,
        }
    })
}

pub fn fail_reason() -> impl Strategy<Value = FailReason> {
    prop_oneof![
        Just(FailReason::FetchFailed),
        Just(FailReason::MediaCorrupt),
        Just(FailReason::MediaMissing),
        Just(FailReason::Expired),
        Just(FailReason::DeviceError),
        Just(FailReason::RelayError),
        Just(FailReason::StreamTimeout),
        Just(FailReason::Skipped),
        Just(FailReason::Other),
    ]
}

pub fn receipt_state() -> impl Strategy<Value = ReceiptState> {
    prop_oneof![
        Just(ReceiptState::Waiting),
        Just(ReceiptState::Playing),
        Just(ReceiptState::Done),
        (fail_reason(), option::of(text()))
            .prop_map(|(reason, detail)| ReceiptState::Failed { reason, detail }),
        any::<u64>().prop_map(|b| ReceiptState::Preempted { by: BroadcastId(b) }),
        Just(ReceiptState::Cancelled),
    ]
}

pub fn reject_reason() -> impl Strategy<Value = RejectReason> {
    prop_oneof![
        Just(RejectReason::TooLarge),
        Just(RejectReason::UnknownKey),
        Just(RejectReason::BadSignature),
        Just(RejectReason::Malformed),
        Just(RejectReason::WrongAudience),
        Just(RejectReason::Replayed),
        Just(RejectReason::BadWindow),
        Just(RejectReason::NotYetValid),
        Just(RejectReason::Stale),
        Just(RejectReason::Other),
    ]
}

pub fn status() -> impl Strategy<Value = StatusReport> {
    let source = prop_oneof![
        media_hash().prop_map(|hash| PlaySource::Media { hash }),
        any::<u32>().prop_map(|s| PlaySource::Live {
            stream_id: StreamId(s)
        }),
    ];
    let playing = option::of(
        (any::<u64>(), source, priority(), mode(), timestamp()).prop_map(
            |(b, source, priority, mode, since)| NowPlaying {
                broadcast_id: BroadcastId(b),
                source,
                priority,
                mode,
                since,
            },
        ),
    );
    let relays = vec(
        (any::<u8>(), option::of(relay_state()))
            .prop_map(|(channel, state)| RelayStatus { channel, state }),
        0..4,
    );
    let cache = (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
        |(used_bytes, capacity_bytes, items)| CacheUsage {
            used_bytes,
            capacity_bytes,
            items,
        },
    );
    (
        (
            playing,
            vec(any::<u64>().prop_map(BroadcastId), 0..3),
            relays,
            volume(),
        ),
        (option::of(text()), text(), text(), any::<u64>()),
        (cache, option::of(any::<i64>()), any::<u64>()),
    )
        .prop_map(
            |(
                (playing, queued, relays, volume),
                (last_error, firmware_version, config_version, schedule_version),
                (cache, clock_offset_us, uptime_s),
            )| StatusReport {
                playing,
                queued,
                relays,
                volume,
                last_error,
                firmware_version,
                config_version,
                schedule_version,
                cache,
                clock_offset_us,
                uptime_s,
            },
        )
}

pub fn agent_message() -> impl Strategy<Value = AgentMessage> {
    let cache_state = prop_oneof![
        Just(CacheState::Fetching),
        Just(CacheState::Cached),
        Just(CacheState::Failed),
        Just(CacheState::Evicted)
    ];
    prop_oneof![
        (vec(any::<u16>(), 1..4), text(), option::of(agent_id())).prop_map(
            |(versions, software, agent_id)| AgentMessage::Hello(Hello {
                versions,
                software,
                agent_id
            })
        ),
        (text(), public_key(), signature()).prop_map(|(token, public_key, signature)| {
            AgentMessage::Enrol(Enrol {
                token,
                public_key,
                signature,
            })
        }),
        (agent_id(), signature(), any::<u64>()).prop_map(
            |(agent_id, signature, last_command_seq)| AgentMessage::Login(Login {
                agent_id,
                signature,
                last_command_seq
            })
        ),
        any::<u64>().prop_map(|uptime_s| AgentMessage::Heartbeat(Heartbeat { uptime_s })),
        status().prop_map(AgentMessage::Status),
        (any::<u32>(), any::<u64>()).prop_map(|(id, t1)| AgentMessage::Ping(Ping { id, t1 })),
        (
            any::<u64>(),
            option::of(any::<u64>()),
            receipt_state(),
            timestamp()
        )
            .prop_map(|(b, entry_id, state, at)| AgentMessage::Receipt(Receipt {
                broadcast_id: BroadcastId(b),
                entry_id,
                state,
                at
            })),
        (media_hash(), cache_state, option::of(text())).prop_map(|(hash, state, detail)| {
            AgentMessage::Cache(CacheReport {
                hash,
                state,
                detail,
            })
        }),
        (option::of(any::<u64>()), reject_reason(), text()).prop_map(|(seq, reason, detail)| {
            AgentMessage::Rejected(Rejected {
                seq,
                reason,
                detail,
            })
        }),
        error_message().prop_map(AgentMessage::Error),
        text().prop_map(|reason| AgentMessage::Goodbye(Goodbye { reason })),
    ]
}

pub fn controller_message() -> impl Strategy<Value = ControllerMessage> {
    prop_oneof![
        (any::<u16>(), text(), any::<[u8; 32]>(), timestamp()).prop_map(
            |(version, controller_id, c, server_time)| ControllerMessage::Welcome(Welcome {
                version,
                controller_id,
                challenge: Challenge(c),
                server_time
            })
        ),
        (agent_id(), any::<u32>(), any::<u32>()).prop_map(|(agent_id, h, s)| {
            ControllerMessage::Enrolled(Enrolled {
                agent_id,
                heartbeat_interval_ms: h,
                status_interval_ms: s,
            })
        }),
        (agent_id(), any::<u32>(), any::<u32>()).prop_map(|(agent_id, h, s)| {
            ControllerMessage::LoginOk(LoginOk {
                agent_id,
                heartbeat_interval_ms: h,
                status_interval_ms: s,
            })
        }),
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>())
            .prop_map(|(id, t1, t2, t3)| ControllerMessage::Pong(Pong { id, t1, t2, t3 })),
        envelope().prop_map(ControllerMessage::Signed),
        error_message().prop_map(ControllerMessage::Error),
    ]
}
