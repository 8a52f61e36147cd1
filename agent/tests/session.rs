//! The agent's connection state machine against a controller played by the test, using
//! the protocol crate's own signer and proofs. Time is passed in; nothing sleeps.

use dalaba_agent::session::{Event, Session, SessionConfig};
use dalaba_protocol::auth::{enrol_message, login_message, verify_proof};
use dalaba_protocol::command::{Command, SetVolume, SignedCommand};
use dalaba_protocol::control::*;
use dalaba_protocol::keys::Challenge;
use dalaba_protocol::{AgentId, CommandSigner, Timestamp, Volume};
use ed25519_dalek::SigningKey;

const AGENT_T0: u64 = 1_000_000_000; // the agent's clock: 1000 s after boot
const OFFSET: u64 = 1_800_000_000_000_000 - AGENT_T0; // controller clock = agent clock + OFFSET
const SEC: u64 = 1_000_000;

fn controller() -> CommandSigner {
    CommandSigner::new(SigningKey::from_bytes(&[1; 32]))
}

fn agent_key() -> SigningKey {
    SigningKey::from_bytes(&[2; 32])
}

fn send(session: &mut Session, m: ControllerMessage, now: u64) {
    session.handle_message(m.to_json().as_bytes(), now);
}

fn outgoing(session: &mut Session, now: u64) -> Vec<AgentMessage> {
    std::iter::from_fn(|| session.poll_transmit(now)).collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn welcome(challenge: Challenge) -> ControllerMessage {
    ControllerMessage::Welcome(Welcome {
        version: 1,
        controller_id: "county-330106".into(),
        challenge,
        server_time: Timestamp(AGENT_T0 + OFFSET),
    })
}

fn id(s: &str) -> AgentId {
    s.parse().expect("valid id")
}

/// Enrols a new agent and returns the ready session.
fn enrolled_session() -> Session {
    let config = SessionConfig {
        agent_id: None,
        enrolment_token: Some("k3J9-2Qx".into()),
        controller_key: controller().public_key(),
        software: "dalaba-agent/test".into(),
        last_command_seq: 0,
    };
    let mut s = Session::new(config, agent_key(), AGENT_T0);
    let hello = outgoing(&mut s, AGENT_T0);
    assert!(
        matches!(&hello[..], [AgentMessage::Hello(h)] if h.versions == [1] && h.agent_id.is_none()),
        "{hello:?}"
    );

    let challenge = Challenge([7; 32]);
    send(&mut s, welcome(challenge), AGENT_T0);
    let [AgentMessage::Enrol(enrol)] = &outgoing(&mut s, AGENT_T0)[..] else {
        panic!("expected enrol")
    };
    assert_eq!(enrol.token, "k3J9-2Qx");
    assert_eq!(enrol.public_key, agent_key().verifying_key().into());
    let proof = enrol_message("county-330106", &challenge, &enrol.public_key, &enrol.token);
    verify_proof(&enrol.public_key, &proof, &enrol.signature)
        .expect("the enrolment proof verifies");
    assert!(!s.is_ready());

    send(
        &mut s,
        ControllerMessage::Enrolled(Enrolled {
            agent_id: id("village-9"),
            heartbeat_interval_ms: 10_000,
            status_interval_ms: 60_000,
        }),
        AGENT_T0,
    );
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::Enrolled(a), Event::Ready] if a.as_str() == "village-9"),
        "{ev:?}"
    );
    assert!(s.is_ready());
    s
}

/// Answers every ping the session sends at agent time `now`, over a 2 ms path.
fn answer_pings(s: &mut Session, now: u64) -> usize {
    let mut answered = 0;
    for m in outgoing(s, now) {
        if let AgentMessage::Ping(p) = m {
            let t2 = p.t1 + 1_000 + OFFSET;
            send(
                s,
                ControllerMessage::Pong(Pong {
                    id: p.id,
                    t1: p.t1,
                    t2,
                    t3: t2 + 50,
                }),
                now + 2_050,
            );
            answered += 1;
        }
    }
    answered
}

fn command(seq: u64, audience: &str, controller_now: u64) -> SignedCommand {
    SignedCommand {
        seq,
        audience: id(audience),
        issued_at: Timestamp(controller_now),
        not_before: Timestamp(controller_now),
        not_after: Timestamp(controller_now + 30 * SEC),
        command: Command::SetVolume(SetVolume {
            volume: Volume::new(60).expect("valid"),
        }),
    }
}

#[test]
fn enrol_sync_clock_and_obey_only_valid_commands() {
    let mut s = enrolled_session();
    // Clock sync: answer a burst of pings.
    let mut now = AGENT_T0;
    for _ in 0..8 {
        now = s.poll_timeout().expect("timer").max(now);
        assert_eq!(answer_pings(&mut s, now), 1);
    }
    let estimate = s.clock().expect("synced");
    assert_eq!(estimate.offset_us, OFFSET as i64, "{estimate:?}");

    let controller_now = now + OFFSET;
    let signer = controller();
    send(
        &mut s,
        ControllerMessage::Signed(signer.sign(&command(1, "village-9", controller_now))),
        now,
    );
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::Command(c)] if c.seq == 1),
        "{ev:?}"
    );

    // The same command again: a replay.
    send(
        &mut s,
        ControllerMessage::Signed(signer.sign(&command(1, "village-9", controller_now))),
        now,
    );
    let out = outgoing(&mut s, now);
    assert!(
        matches!(&out[..], [AgentMessage::Rejected(r)] if r.reason == RejectReason::Replayed && r.seq == Some(1)),
        "{out:?}"
    );
    assert!(matches!(&events(&mut s)[..], [Event::Rejected(_)]));

    // For a neighbour, stale, or signed by someone else: refused, never obeyed.
    let forger = CommandSigner::new(SigningKey::from_bytes(&[66; 32]));
    let cases = [
        (
            signer.sign(&command(2, "village-10", controller_now)),
            RejectReason::WrongAudience,
            Some(2),
        ),
        (
            signer.sign(&command(3, "village-9", controller_now - 60 * SEC)),
            RejectReason::Stale,
            Some(3),
        ),
        (
            forger.sign(&command(4, "village-9", controller_now)),
            RejectReason::UnknownKey,
            None,
        ),
    ];
    for (envelope, reason, seq) in cases {
        send(&mut s, ControllerMessage::Signed(envelope), now);
        let out = outgoing(&mut s, now);
        assert!(
            matches!(&out[..], [AgentMessage::Rejected(r)] if r.reason == reason && r.seq == seq),
            "{reason:?}: {out:?}"
        );
        assert!(matches!(&events(&mut s)[..], [Event::Rejected(_)]));
    }
    // A later valid command is still accepted.
    send(
        &mut s,
        ControllerMessage::Signed(signer.sign(&command(5, "village-9", controller_now))),
        now,
    );
    assert!(matches!(&events(&mut s)[..], [Event::Command(c)] if c.seq == 5));
}

#[test]
fn heartbeats_and_bad_input() {
    let mut s = enrolled_session();
    let mut now = AGENT_T0;
    // Heartbeats every 10 s (pings interleave; they are answered).
    let mut heartbeats = Vec::new();
    while now < AGENT_T0 + 31 * SEC {
        now = s.poll_timeout().expect("timer").max(now);
        for m in outgoing(&mut s, now) {
            match m {
                AgentMessage::Heartbeat(h) => heartbeats.push(((now - AGENT_T0) / SEC, h.uptime_s)),
                AgentMessage::Ping(p) => {
                    let t2 = p.t1 + OFFSET;
                    send(
                        &mut s,
                        ControllerMessage::Pong(Pong {
                            id: p.id,
                            t1: p.t1,
                            t2,
                            t3: t2,
                        }),
                        now,
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        now += 1;
    }
    assert_eq!(
        heartbeats,
        [(10, 10), (20, 20), (30, 30)],
        "(when, reported uptime)"
    );

    // Garbage is answered with an error; the session carries on.
    s.handle_message(b"{\"type\":\"play\"}", now);
    let out = outgoing(&mut s, now);
    assert!(
        matches!(&out[..], [AgentMessage::Error(e)] if e.code == ErrorCode::MalformedMessage),
        "{out:?}"
    );
    send(
        &mut s,
        ControllerMessage::Enrolled(Enrolled {
            agent_id: id("village-9"),
            heartbeat_interval_ms: 1,
            status_interval_ms: 1,
        }),
        now,
    );
    let out = outgoing(&mut s, now);
    assert!(
        matches!(&out[..], [AgentMessage::Error(e)] if e.code == ErrorCode::UnexpectedMessage),
        "{out:?}"
    );
    assert!(s.is_ready());
}

#[test]
fn login_with_a_known_id() {
    let config = SessionConfig {
        agent_id: Some(id("village-9")),
        enrolment_token: None,
        controller_key: controller().public_key(),
        software: "dalaba-agent/test".into(),
        last_command_seq: 41,
    };
    let mut s = Session::new(config, agent_key(), AGENT_T0);
    let hello = outgoing(&mut s, AGENT_T0);
    assert!(matches!(&hello[..], [AgentMessage::Hello(h)] if h.agent_id == Some(id("village-9"))));
    let challenge = Challenge([9; 32]);
    send(&mut s, welcome(challenge), AGENT_T0);
    let [AgentMessage::Login(login)] = &outgoing(&mut s, AGENT_T0)[..] else {
        panic!("expected login")
    };
    assert_eq!(login.last_command_seq, 41);
    let proof = login_message("county-330106", &challenge, &login.agent_id);
    verify_proof(
        &agent_key().verifying_key().into(),
        &proof,
        &login.signature,
    )
    .expect("the login proof verifies");
    send(
        &mut s,
        ControllerMessage::LoginOk(LoginOk {
            agent_id: id("village-9"),
            heartbeat_interval_ms: 10_000,
            status_interval_ms: 60_000,
        }),
        AGENT_T0,
    );
    assert!(matches!(&events(&mut s)[..], [Event::Ready]));
    // Commands at or below the persisted sequence are replays.
    let signer = controller();
    send(
        &mut s,
        ControllerMessage::Signed(signer.sign(&command(41, "village-9", AGENT_T0 + OFFSET))),
        AGENT_T0,
    );
    assert!(matches!(&events(&mut s)[..], [Event::Rejected(_)]));
}

#[test]
fn fatal_errors_close_with_the_right_retry_advice() {
    for (code, retry) in [
        (ErrorCode::Revoked, false),
        (ErrorCode::EnrolmentRefused, false),
        (ErrorCode::UnsupportedVersion, true),
        (ErrorCode::LoginRefused, true),
        (ErrorCode::RateLimited, true),
    ] {
        let mut s = enrolled_session();
        send(
            &mut s,
            ControllerMessage::Error(ErrorMessage {
                code,
                message: "m".into(),
                supported_versions: vec![],
            }),
            AGENT_T0,
        );
        let ev = events(&mut s);
        assert!(
            matches!(&ev[..], [Event::Closed { retry: r, .. }] if *r == retry),
            "{code:?}: {ev:?}"
        );
        assert!(!s.is_ready());
    }
}
