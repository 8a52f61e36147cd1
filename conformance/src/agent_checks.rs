//! The kit against an agent: it plays the controller, starts the agent under test from
//! its command line, restarts it where a rule needs it, and fills one row per rule.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use dalaba_protocol::auth::{enrol_message, login_message, verify_proof};
use dalaba_protocol::command::{Command, MediaRef, OnPreempt, PlayMedia, StartLive, StopLive};
use dalaba_protocol::control::{
    Enrolled, FailReason, LoginOk, Receipt, ReceiptState, RejectReason, Welcome,
};
use dalaba_protocol::keys::{Challenge, PublicKey};
use dalaba_protocol::{
    AgentId, AgentMessage, AudioHeader, BroadcastId, CommandSigner, ControllerMessage, FrameFlags,
    Mode, PlatformLevel, Priority, SignedCommand, StreamId, Timestamp,
};
use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};

use crate::fake_controller::{ControllerClock, FakeController, Link};
use crate::harness::{
    AGENT_ID, CONTROLLER_ID, Controller, HEARTBEAT_MS, Media, OFFSET_US, SMALL_ORDER_KEY, Subject,
    TOKEN, kind, receipt, rejected, status_volume, volume,
};
use crate::report::Report;
use crate::rules::AGENT_RULES;
use crate::tls_pin::{PinStage, Seen};

/// How the agent under test is run.
#[derive(Clone, Debug)]
pub struct AgentUnderTest {
    /// Its command line, run with `sh -c`; `{config}` and `{state}` are replaced by the
    /// configuration file and the state directory.
    pub command: String,
    /// Where the kit writes the configuration, the state directory and the agent's log.
    pub work: PathBuf,
    /// How long to wait for any one thing the agent should do.
    pub wait: Duration,
}

/// Runs every check against the agent; the table of results.
pub async fn check_agent(under_test: &AgentUnderTest) -> anyhow::Result<Report> {
    let mut report = Report::new(AGENT_RULES);
    let clock = ControllerClock {
        offset_us: OFFSET_US,
    };
    let mut ctl = FakeController::start(clock).await?;
    std::fs::create_dir_all(&under_test.work)?;
    let mut subject = Subject {
        command: under_test.command.clone(),
        config: under_test.work.join("agent.toml"),
        state: under_test.work.join("state"),
        log: under_test.work.join("agent.log"),
        child: None,
    };
    let mut controller = Controller {
        key: CommandSigner::new(SigningKey::from_bytes(&rand::random())),
        clock,
        audience: AGENT_ID.parse().expect("id"),
        seq: 0,
    };
    subject.write_config(&ctl.url(), &controller.key.public_key().to_base64(), None)?;
    let media = Media::make(&under_test.work, &ctl)?;
    subject.start()?;
    let result = Checks {
        report: &mut report,
        ctl: &mut ctl,
        subject: &mut subject,
        controller: &mut controller,
        media: &media,
        wait: under_test.wait,
        agent_key: None,
    }
    .run()
    .await;
    subject.stop().await;
    if let Err(why) = result {
        // A check that could not go on: the rows it would have filled stay as they are,
        // and the reason is on the row that stopped it.
        eprintln!("dalaba-conformance: stopped early: {why}");
    }
    Ok(report)
}

/// Reads until broadcast `id`'s final receipt (within `limit`): it, and the states its
/// receipts went through before.
async fn until_final(
    link: &mut Link,
    id: u64,
    limit: Duration,
) -> (Option<Receipt>, Vec<ReceiptState>) {
    let (last, passed) = link
        .until(limit, |m| receipt(id)(m).filter(|r| r.state.is_final()))
        .await;
    let states = passed
        .iter()
        .filter_map(receipt(id))
        .map(|r| r.state)
        .collect();
    (last, states)
}

struct Checks<'a> {
    report: &'a mut Report,
    ctl: &'a mut FakeController,
    subject: &'a mut Subject,
    controller: &'a mut Controller,
    media: &'a Media,
    wait: Duration,
    agent_key: Option<PublicKey>,
}

impl Checks<'_> {
    async fn run(&mut self) -> Result<(), String> {
        let mut link = self.connect(true).await?;
        let session_start = std::time::Instant::now();
        self.wait_for_clock(&mut link).await;
        self.genuine_and_clock(&mut link).await?;
        self.refusals(&mut link).await?;
        self.malformed(&mut link).await?;
        let done = self.plays(&mut link).await?;
        let first_log = std::mem::take(&mut link.log);
        self.heartbeats(&link, session_start);

        // A power cut: the agent comes back, logs in, and is sent its finished broadcast.
        self.subject.stop().await;
        self.subject.start().map_err(|e| e.to_string())?;
        let mut link = self.connect(false).await?;
        self.wait_for_clock(&mut link).await;
        self.after_restart(&mut link, done).await?;
        self.timeline_passed(&mut link).await;
        self.corrupt_media(&mut link).await;
        self.live(&mut link).await;
        // Within each run of the agent (across a restart is A10's).
        self.nothing_after_final(&first_log);
        self.nothing_after_final(&link.log);
        self.subject.stop().await;
        self.small_order_key().await;
        self.subject.stop().await;
        self.pin().await;
        Ok(())
    }

    /// A1: three TLS servers, one connection each, the agent started afresh for each.
    async fn pin(&mut self) {
        let stage = match PinStage::new().await {
            Ok(s) => s,
            Err(e) => {
                self.report
                    .fail("A1", format!("the kit could not make certificates: {e}"));
                return;
            }
        };
        let key = self.controller.key.public_key().to_base64();
        if let Err(e) = self
            .subject
            .write_config(&stage.url, &key, Some(&stage.fingerprint))
        {
            self.report
                .fail("A1", format!("writing the configuration: {e}"));
            return;
        }
        for (what, config, should_connect) in stage.attempts.clone() {
            if let Err(e) = self.subject.start() {
                self.report.fail("A1", format!("starting the agent: {e}"));
                return;
            }
            let seen = stage.serve(config, self.wait).await;
            self.subject.stop().await;
            match (seen, should_connect) {
                (Seen::Refused, false) => self
                    .report
                    .pass("A1", format!("{what}: handshake refused, nothing sent")),
                (Seen::Sent(bytes), true) if bytes.starts_with(b"GET ") => self
                    .report
                    .pass("A1", format!("{what}: the upgrade request sent")),
                (Seen::Sent(bytes), false) => self.report.fail(
                    "A1",
                    format!(
                        "{what}: the handshake completed, then {} bytes sent",
                        bytes.len()
                    ),
                ),
                (seen, _) => self.report.fail("A1", format!("{what}: {seen:?}")),
            }
        }
    }

    /// Accepts the agent's connection and takes it through the handshake: enrolment the
    /// first time, login after.
    async fn connect(&mut self, first: bool) -> Result<Link, String> {
        let Some(mut link) = self.ctl.next_connection(self.wait).await else {
            let why = "the agent did not connect".to_owned();
            self.report.fail(if first { "A2" } else { "A3" }, &why);
            return Err(why);
        };
        let hello = link.recv(self.wait).await;
        match &hello {
            Some(AgentMessage::Hello(h)) if h.versions.contains(&1) => {
                self.report.pass("A2", "hello first");
            }
            other => {
                let why = format!("first message: {}", kind(other.as_ref()));
                self.report.fail("A2", &why);
                return Err(why);
            }
        }
        let challenge = self.welcome(&link);
        let agent_id: AgentId = AGENT_ID.parse().expect("id");
        match link.recv(self.wait).await {
            Some(AgentMessage::Enrol(e)) if first => {
                let proof = enrol_message(CONTROLLER_ID, &challenge, &e.public_key, &e.token);
                if e.token != TOKEN || verify_proof(&e.public_key, &proof, &e.signature).is_err() {
                    self.report.fail("A3", "enrol with a wrong token or proof");
                    return Err("bad enrolment".into());
                }
                self.report.pass("A3", "enrolled with a valid proof");
                self.agent_key = Some(e.public_key);
                link.send(&ControllerMessage::Enrolled(Enrolled {
                    agent_id,
                    heartbeat_interval_ms: HEARTBEAT_MS,
                    status_interval_ms: 60_000,
                }));
            }
            Some(AgentMessage::Login(l)) if !first => {
                let key = self.agent_key.ok_or("no key")?;
                let proof = login_message(CONTROLLER_ID, &challenge, &l.agent_id);
                if l.agent_id != agent_id || verify_proof(&key, &proof, &l.signature).is_err() {
                    self.report
                        .fail("A3", "login with another id, key or a bad proof");
                    return Err("bad login".into());
                }
                self.report
                    .pass("A3", "logged in after a restart with the enrolled key");
                if l.last_command_seq >= self.controller.seq {
                    self.report.pass(
                        "A8",
                        format!("login says last_command_seq {}", l.last_command_seq),
                    );
                } else {
                    self.report.fail(
                        "A8",
                        format!(
                            "login says last_command_seq {} after accepting {}",
                            l.last_command_seq, self.controller.seq
                        ),
                    );
                }
                self.login_ok(&link);
            }
            other => {
                let why = format!(
                    "expected {} after welcome, got {}",
                    if first { "enrol" } else { "login" },
                    kind(other.as_ref())
                );
                self.report.fail("A3", &why);
                return Err(why);
            }
        }
        Ok(link)
    }

    /// Sends `welcome` with a fresh challenge; the challenge.
    fn welcome(&self, link: &Link) -> Challenge {
        let challenge = Challenge(rand::random());
        link.send(&ControllerMessage::Welcome(Welcome {
            version: 1,
            controller_id: CONTROLLER_ID.into(),
            challenge,
            server_time: Timestamp(self.ctl.clock.now()),
        }));
        challenge
    }

    /// Lets the agent in after `login`, and moves to a fresh block of numbers as a
    /// controller does at every login.
    fn login_ok(&mut self, link: &Link) {
        link.send(&ControllerMessage::LoginOk(LoginOk {
            agent_id: AGENT_ID.parse().expect("id"),
            heartbeat_interval_ms: HEARTBEAT_MS,
            status_interval_ms: 60_000,
        }));
        self.controller.new_block();
    }

    /// Reads what comes until the agent has had four pongs (a first clock estimate).
    async fn wait_for_clock(&mut self, link: &mut Link) {
        let deadline = tokio::time::Instant::now() + self.wait;
        while link.pings() < 4 && tokio::time::Instant::now() < deadline {
            let _ = link.recv(Duration::from_millis(100)).await;
        }
    }

    /// Sends a genuine `set_volume` and waits for the status that shows it.
    async fn set_volume(&mut self, link: &mut Link, v: u8) -> Result<Vec<AgentMessage>, String> {
        link.send_text(self.controller.signed(volume(v)));
        let (got, passed) = link
            .until(self.wait, |m| (status_volume(m) == Some(v)).then_some(()))
            .await;
        got.map(|()| passed)
            .ok_or_else(|| format!("no status with volume {v} after a genuine set_volume"))
    }

    async fn genuine_and_clock(&mut self, link: &mut Link) -> Result<(), String> {
        link.send_text(self.controller.signed(volume(41)));
        let (status, _) = link
            .until(self.wait, |m| match m {
                AgentMessage::Status(s) if s.volume.percent() == 41 => Some(s.clone()),
                _ => None,
            })
            .await;
        let Some(status) = status else {
            let why = "no status with volume 41 after a genuine set_volume".to_owned();
            self.report.fail("A6", &why);
            self.report.fail("A5", "no status after a change");
            return Err(why);
        };
        self.report
            .pass("A5", "status at once when the volume changed");
        let pings = link.pings();
        match status.clock_offset_us {
            Some(off) if (off - OFFSET_US).abs() <= 100_000 => self.report.pass(
                "A17",
                format!(
                    "clock offset {:.1} ms, the controller runs {} ms ahead ({pings} pings)",
                    off as f64 / 1000.0,
                    OFFSET_US / 1000
                ),
            ),
            Some(off) => self.report.fail(
                "A17",
                format!(
                    "clock offset {:.1} ms, the controller runs {} ms ahead",
                    off as f64 / 1000.0,
                    OFFSET_US / 1000
                ),
            ),
            None => self.report.fail(
                "A17",
                format!("status has no clock offset after {pings} pings"),
            ),
        }
        Ok(())
    }

    /// Forged, unknown-key, misaddressed, stale and over-long commands: each refused with
    /// its reason, none obeyed.
    async fn refusals(&mut self, link: &mut Link) -> Result<(), String> {
        let forger = CommandSigner::new(SigningKey::from_bytes(&rand::random()));
        let now = self.ctl.clock.now();
        let mut cases: Vec<(&str, RejectReason, String)> = Vec::new();
        // Signed by another key, under the pinned key's id.
        let payload = self.controller.payload(volume(91));
        let mut forged = forger.sign(&payload);
        forged.key_id = self.controller.key.key_id();
        cases.push((
            "forged signature",
            RejectReason::BadSignature,
            ControllerMessage::Signed(forged).to_json(),
        ));
        let payload = self.controller.payload(volume(92));
        cases.push((
            "unknown key",
            RejectReason::UnknownKey,
            ControllerMessage::Signed(forger.sign(&payload)).to_json(),
        ));
        let mut payload = self.controller.payload(volume(93));
        payload.audience = "someone-else".parse().expect("id");
        cases.push((
            "for another agent",
            RejectReason::WrongAudience,
            ControllerMessage::Signed(self.controller.key.sign(&payload)).to_json(),
        ));
        let mut payload = self.controller.payload(volume(94));
        payload.not_before = Timestamp(now - 3_660_000_000);
        payload.not_after = Timestamp(now - 60_000_000);
        cases.push((
            "stale",
            RejectReason::Stale,
            ControllerMessage::Signed(self.controller.key.sign(&payload)).to_json(),
        ));
        let mut payload = self.controller.payload(volume(95));
        payload.not_after = Timestamp(payload.not_before.0 + 3_700_000_000);
        cases.push((
            "a window over an hour",
            RejectReason::BadWindow,
            ControllerMessage::Signed(self.controller.key.sign(&payload)).to_json(),
        ));
        for (what, reason, text) in cases {
            link.send_text(text);
            let (got, _) = link.until(self.wait, rejected).await;
            match got {
                Some(r) if r == reason => self.report.pass("A6", format!("{what}: {r:?}")),
                Some(r) => self
                    .report
                    .fail("A6", format!("{what}: refused as {r:?}, not {reason:?}")),
                None => self.report.fail("A6", format!("{what}: no `rejected`")),
            }
        }
        let passed = self.set_volume(link, 42).await?;
        let obeyed: Vec<u8> = passed
            .iter()
            .filter_map(status_volume)
            .filter(|v| (91..=95).contains(v))
            .collect();
        if !obeyed.is_empty() {
            self.report
                .fail("A6", format!("obeyed refused commands: volumes {obeyed:?}"));
        }

        // The first genuine command's exact bytes again.
        let first = self.replay_of_seq_1();
        link.send_text(first);
        let (got, _) = link.until(self.wait, rejected).await;
        let passed = self.set_volume(link, 43).await?;
        let replayed = passed.iter().any(|m| status_volume(m) == Some(41));
        match got {
            Some(RejectReason::Replayed) if !replayed => {
                self.report.pass("A8", "a replayed seq refused")
            }
            Some(r) => self
                .report
                .fail("A8", format!("a replayed seq refused as {r:?}")),
            None => self.report.fail("A8", "a replayed command was not refused"),
        }
        Ok(())
    }

    /// The first command again (`seq` 1, volume 41), freshly signed: a replay.
    fn replay_of_seq_1(&mut self) -> String {
        let payload = SignedCommand {
            seq: 1,
            ..self.controller.payload(volume(41))
        };
        ControllerMessage::Signed(self.controller.key.sign(&payload)).to_json()
    }

    async fn malformed(&mut self, link: &mut Link) -> Result<(), String> {
        for junk in ["{not json", r#"{"type":"no_such_message"}"#, "[1,2,3]"] {
            link.send_text(junk.to_owned());
        }
        match self.set_volume(link, 44).await {
            Ok(_) if !link.closed() => self.report.pass(
                "A16",
                "three malformed frames, the connection kept, the next command obeyed",
            ),
            _ => self.report.fail(
                "A16",
                "after malformed frames the agent closed or stopped obeying",
            ),
        }
        Ok(())
    }

    fn play(&mut self, id: u64, start_at: u64, media: &MediaRef) -> String {
        let now = self.ctl.clock.now();
        self.controller.signed(Command::PlayMedia(PlayMedia {
            broadcast_id: BroadcastId(id),
            media: media.clone(),
            start_at: Timestamp(start_at),
            priority: Priority::Scheduled,
            level: PlatformLevel::County,
            volume: None,
            repeat: 1,
            gap_ms: 0,
            mode: Mode::Test,
            severity: None,
            on_preempt: OnPreempt::Resume,
            expires_at: Some(Timestamp(now + 600_000_000)),
        }))
    }

    /// Broadcast 101 plays to the end, sent twice; the final receipt.
    async fn plays(&mut self, link: &mut Link) -> Result<Receipt, String> {
        let start = self.ctl.clock.now() + 1_500_000;
        let media = self.media.good.clone();
        let text = self.play(101, start, &media);
        link.send_text(text);
        // Sent again while it waits (a reconnect would do this): it must not start twice.
        let again = self.play(101, start, &media);
        link.send_text(again);
        let deadline = self.wait + Duration::from_millis(2_500);
        let (done, states) = until_final(link, 101, deadline).await;
        let Some(done) = done else {
            self.report
                .fail("A9", format!("no final receipt for a play; saw {states:?}"));
            return Err("no final receipt".into());
        };
        let playings = states
            .iter()
            .filter(|s| **s == ReceiptState::Playing)
            .count();
        if done.state == ReceiptState::Done && playings == 1 {
            self.report.pass(
                "A9",
                format!("receipts {states:?} then done, sent twice, started once"),
            );
        } else {
            self.report.fail(
                "A9",
                format!(
                    "receipts {states:?} then {:?} (sent twice: expected one playing, then done)",
                    done.state
                ),
            );
        }
        Ok(done)
    }

    /// Heartbeats over the first session: no silence longer than the interval (plus a
    /// second of slack) from `enrolled` to now.
    fn heartbeats(&mut self, link: &Link, since: std::time::Instant) {
        let (gap, n) = link.heartbeat_gaps(since);
        let allowed = Duration::from_millis(u64::from(HEARTBEAT_MS) + 1_000);
        let seen = format!(
            "{n} heartbeats in {:.1} s, the longest silence {} ms (interval {HEARTBEAT_MS} ms)",
            since.elapsed().as_secs_f64(),
            gap.as_millis()
        );
        if gap <= allowed {
            self.report.pass("A5", seen);
        } else {
            self.report.fail("A5", seen);
        }
    }

    async fn after_restart(&mut self, link: &mut Link, done: Receipt) -> Result<(), String> {
        let start = self.ctl.clock.now() + 1_500_000;
        let media = self.media.good.clone();
        let text = self.play(101, start, &media);
        link.send_text(text);
        let (answer, _) = link.until(self.wait, receipt(101)).await;
        // A barrier: broadcast 102 plays to the end; anything about 101 came before.
        let text = self.play(102, self.ctl.clock.now() + 500_000, &media);
        link.send_text(text);
        let (_, passed) = link
            .until(self.wait + Duration::from_millis(1_500), |m| {
                receipt(102)(m).filter(|r| r.state.is_final())
            })
            .await;
        let more: Vec<ReceiptState> = passed
            .iter()
            .filter_map(receipt(101))
            .map(|r| r.state)
            .collect();
        match answer {
            Some(r) if r == done && more.is_empty() => self.report.pass(
                "A10",
                "after a restart, a re-sent finished broadcast got its final receipt back, nothing played",
            ),
            Some(r) => self.report.fail(
                "A10",
                format!(
                    "after a restart, a re-sent finished broadcast got {:?} (then {more:?}), not its final receipt {:?}",
                    r.state, done.state
                ),
            ),
            None => self.report.fail(
                "A10",
                "after a restart, a re-sent finished broadcast got no answer",
            ),
        }
        // The command accepted last before the restart, again.
        let last = self.controller.seq;
        let replay = self.replay_of_seq_1();
        self.controller.seq = last;
        link.send_text(replay);
        match link.until(self.wait, rejected).await.0 {
            Some(RejectReason::Replayed) => self
                .report
                .pass("A8", "a replayed seq refused after a restart"),
            other => self.report.fail(
                "A8",
                format!("after a restart a replayed seq got {other:?}"),
            ),
        }
        Ok(())
    }

    async fn timeline_passed(&mut self, link: &mut Link) {
        let media = self.media.good.clone();
        let text = self.play(103, self.ctl.clock.now() - 60_000_000, &media);
        link.send_text(text);
        let (last, states) = until_final(link, 103, self.wait).await;
        let played = states.contains(&ReceiptState::Playing);
        match last.map(|r| r.state) {
            Some(ReceiptState::Failed {
                reason: FailReason::Expired,
                ..
            }) if !played => self.report.pass(
                "A11",
                "a play whose timeline ended a minute ago: failed/expired, not played",
            ),
            other => self.report.fail(
                "A11",
                format!(
                    "a play whose timeline ended a minute ago: {other:?}{}",
                    if played { " after playing" } else { "" }
                ),
            ),
        }
    }

    /// A file served under a hash that is not its own: never played. Over its whole
    /// window (start in 0.5 s, 1 s long, and 2 s more) the agent may fail it or keep
    /// retrying the download; it must not report it `playing` or `done`.
    async fn corrupt_media(&mut self, link: &mut Link) {
        let media = self.media.corrupt.clone();
        let text = self.play(104, self.ctl.clock.now() + 500_000, &media);
        link.send_text(text);
        let (played, passed) = link
            .until(Duration::from_millis(3_500), |m| {
                receipt(104)(m)
                    .filter(|r| matches!(r.state, ReceiptState::Playing | ReceiptState::Done))
            })
            .await;
        let states: Vec<ReceiptState> = passed
            .iter()
            .filter_map(receipt(104))
            .map(|r| r.state)
            .collect();
        match played {
            None => self.report.pass(
                "A15",
                format!("a download that does not hash to its name: not played ({states:?})"),
            ),
            Some(r) => self.report.fail(
                "A15",
                format!(
                    "a download that does not hash to its name was reported {:?}",
                    r.state
                ),
            ),
        }
    }

    async fn live(&mut self, link: &mut Link) {
        let (stream, broadcast) = (StreamId(7), BroadcastId(105));
        let text = self.controller.signed(Command::StartLive(StartLive {
            broadcast_id: broadcast,
            stream_id: stream,
            priority: Priority::Live,
            level: PlatformLevel::Village,
            volume: None,
            mode: Mode::Test,
            latency_ms: 400,
            idle_timeout_ms: 5_000,
        }));
        link.send_text(text);
        let Ok(mut encoder) =
            dalaba_audio::codec::Encoder::new(&dalaba_audio::codec::EncoderSettings::live())
        else {
            self.report
                .fail("A13", "the kit could not make an Opus encoder");
            return;
        };
        let tone: Vec<f32> = (0..960).map(|i| (i as f32 * 0.0576).sin() * 0.3).collect();
        let start = self.ctl.clock.now() + 100_000;
        let mut frames = Vec::new();
        for seq in 0..25u32 {
            let header = AudioHeader {
                stream_id: stream,
                seq,
                capture_time: Timestamp(start + u64::from(seq) * 20_000),
                samples: 960,
                flags: FrameFlags::FEC,
            };
            let frame = encoder
                .encode(&tone)
                .ok()
                .and_then(|packet| header.to_frame(packet).ok());
            frames.extend(frame);
        }
        let end = AudioHeader {
            stream_id: stream,
            seq: 25,
            capture_time: Timestamp(start + 500_000),
            samples: 0,
            flags: FrameFlags::END_OF_STREAM,
        };
        frames.push(end.to_frame(&[]).expect("an empty end-of-stream frame"));
        for frame in frames {
            link.send_binary(frame);
        }
        let text = self.controller.signed(Command::StopLive(StopLive {
            broadcast_id: broadcast,
            stream_id: stream,
        }));
        link.send_text(text);
        let (last, states) = until_final(link, 105, self.wait).await;
        match last.map(|r| r.state) {
            Some(ReceiptState::Done) if states.contains(&ReceiptState::Playing) => self
                .report
                .pass("A13", "a 0.5 s live stream: playing, then done at its end"),
            other => self.report.fail(
                "A13",
                format!("a 0.5 s live stream: {states:?} then {other:?}"),
            ),
        }
    }

    /// Within one run of the agent: after a broadcast's first final receipt, only that
    /// same receipt again (the answer to a repeat), never anything else.
    fn nothing_after_final(&mut self, log: &[AgentMessage]) {
        let mut finals: std::collections::HashMap<BroadcastId, Receipt> = Default::default();
        for r in log.iter().filter_map(|m| match m {
            AgentMessage::Receipt(r) => Some(r),
            _ => None,
        }) {
            match finals.get(&r.broadcast_id) {
                Some(first) if first != r => {
                    self.report.fail(
                        "A9",
                        format!(
                            "broadcast {} reported {:?} after its final {:?}",
                            r.broadcast_id.0, r.state, first.state
                        ),
                    );
                }
                Some(_) => {}
                None if r.state.is_final() => {
                    finals.insert(r.broadcast_id, r.clone());
                }
                None => {}
            }
        }
        self.report.pass(
            "A9",
            format!("{} broadcasts, nothing after a final receipt", finals.len()),
        );
    }

    /// The agent configured with a small-order controller key: it refuses to run with it,
    /// or refuses what such a key "signs" (anyone can make those signatures).
    async fn small_order_key(&mut self) {
        let key = B64.encode(SMALL_ORDER_KEY);
        if let Err(e) = self.subject.write_config(&self.ctl.url(), &key, None) {
            self.report
                .fail("A7", format!("writing the configuration: {e}"));
            return;
        }
        if let Err(e) = self.subject.start() {
            self.report.fail("A7", format!("starting the agent: {e}"));
            return;
        }
        let child = self.subject.child.as_mut().expect("started");
        let link = tokio::select! {
            link = self.ctl.next_connection(self.wait) => link,
            status = child.wait() => {
                self.report.pass("A7", format!("refused to run with a small-order controller key ({})", status.map_or_else(|e| e.to_string(), |s| s.to_string())));
                return;
            }
        };
        let Some(mut link) = link else {
            self.report
                .pass("A7", "did not connect with a small-order controller key");
            return;
        };
        // Through the handshake as usual (it logs in), then a command "signed" for that
        // key: R is the identity point and S is 0, which the key accepts unless refused.
        let _hello = link.recv(self.wait).await;
        self.welcome(&link);
        let _login = link.recv(self.wait).await;
        self.login_ok(&link);
        let payload = serde_json::to_vec(&self.controller.payload(volume(77))).expect("json");
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let key_id = hex::encode(&Sha256::digest(SMALL_ORDER_KEY)[..8]);
        let forged = serde_json::json!({
            "type": "signed", "key_id": key_id,
            "payload": B64.encode(&payload), "signature": B64.encode(signature),
        });
        link.send_text(forged.to_string());
        let (got, _) = link
            .until(self.wait, |m| match m {
                AgentMessage::Rejected(r) => Some(Err(r.reason)),
                m if status_volume(m) == Some(77) => Some(Ok(())),
                _ => None,
            })
            .await;
        match got {
            Some(Err(reason)) => self.report.pass(
                "A7",
                format!("a signature for a small-order key refused ({reason:?})"),
            ),
            Some(Ok(())) => self.report.fail(
                "A7",
                "obeyed a command whose signature anyone can make (small-order key)",
            ),
            None => self
                .report
                .fail("A7", "no answer to a command signed for a small-order key"),
        }
    }
}
