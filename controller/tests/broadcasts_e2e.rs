//! Stored-media broadcasts end to end, with real processes: upload, transcode, target by
//! agent, area, group and all; each agent's WAV output compared with the source; start
//! times compared across agents; bad uploads refused with nothing left behind.

mod common;

use common::*;
use serde_json::{Value, json};

const TONE_HZ: f64 = 1000.0;

/// These tests start several processes each and measure timing: on a 2-core machine they
/// run one at a time, so one test's load does not skew another's measurements.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The tone, not something else: right length, loud enough, 1 kHz by its zero crossings.
fn assert_is_the_tone(samples: &[f32], who: &str) {
    assert!(
        (samples.len() as i64 - 72_000).abs() <= 960,
        "{who}: {} samples",
        samples.len()
    );
    let mid = &samples[12_000..60_000];
    let rms = (mid.iter().map(|s| s * s).sum::<f32>() / mid.len() as f32).sqrt();
    assert!(rms > 0.05, "{who}: rms {rms}");
    let crossings = mid
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let hz = crossings as f64 / 2.0 / (mid.len() as f64 / 48_000.0);
    assert!((hz - TONE_HZ).abs() < 10.0, "{who}: {hz} Hz");
}

#[test]
fn upload_and_broadcast_to_targets() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("controller");
    let (ctl, password) = start_controller_env(&data, &[("DALABA_MAX_UPLOAD_MB", "1")]);
    let api = Api::login(&ctl.addr, &password);

    // Three speakers: two in village 001 (group east), one in village 002 of another
    // township (group west).
    let speakers = [
        ("v1", "330106001001", "east"),
        ("v2", "330106001002", "east"),
        ("w1", "330106002001", "west"),
    ];
    let mut agents = Vec::new();
    for (id, area, group) in speakers {
        let (status, created) = api.call(
            "POST",
            "/api/agents",
            Some(json!({"id": id, "name": id, "area_code": area, "groups": [group]})),
        );
        assert_eq!(status, 201, "{created}");
        let adir = dir.path().join(id);
        std::fs::create_dir_all(&adir).expect("mkdir");
        let token = created["enrolment_token"].as_str().expect("token");
        let config = agent_config_wav(&adir, &ctl, token, area);
        let proc = start_agent(&config, &adir.join("state"));
        proc.wait_for(&format!("session ready as {id}"));
        agents.push((id, adir, proc));
    }

    // Bad uploads: clear errors, nothing left behind.
    let (status, err) = upload(&api, "empty.mp3", Vec::new());
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["message"], "empty.mp3: the file is empty");
    let (status, err) = upload(&api, "huge.wav", vec![0u8; 2 * 1024 * 1024]);
    assert_eq!(status, 413, "{err}");
    assert_eq!(
        err["error"]["message"],
        "huge.wav: larger than the upload limit of 1 MiB"
    );
    let (status, corrupt) = upload(&api, "notice.mp3", b"this is not audio at all".repeat(100));
    assert_eq!(status, 201, "{corrupt}");
    assert_eq!(corrupt["state"], "failed");
    assert!(
        corrupt["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("notice.mp3: not a recognised audio format")),
        "{corrupt}"
    );
    let incoming: Vec<_> = std::fs::read_dir(data.join("media/incoming"))
        .expect("dir")
        .collect();
    assert!(incoming.is_empty(), "no leftovers: {incoming:?}");

    let (status, media) = upload(&api, "tone.wav", tone_wav(TONE_HZ, 1.5, 44_100));
    assert_eq!(
        (status, media["state"].as_str()),
        (201, Some("ready")),
        "{media}"
    );
    let media_id = media["id"].as_u64().expect("id");

    let cases: [(Value, &[&str]); 4] = [
        (json!({"agents": ["v2"]}), &["v2"]),
        (json!({"areas": ["330106001"]}), &["v1", "v2"]),
        (json!({"groups": ["west"]}), &["w1"]),
        (json!({"all": true}), &["v1", "v2", "w1"]),
    ];
    for (target, expected) in cases {
        let (status, sent) = api.call(
            "POST",
            "/api/broadcasts",
            Some(json!({"media_id": media_id, "target": target, "start_in_ms": 1500})),
        );
        assert_eq!(status, 201, "{sent}");
        let id = sent["id"].as_u64().expect("id");
        let chosen: Vec<&str> = sent["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(chosen, expected, "{target}");

        let (_, result) = api.call("GET", &format!("/api/broadcasts/{id}?wait_ms=20000"), None);
        let receipts = result["receipts"].as_array().expect("receipts");
        let mut starts = Vec::new();
        for r in receipts {
            assert_eq!(r["state"], "done", "{target}: {r}");
            starts.push(r["started_at"].as_u64().expect("started"));
        }
        assert_eq!(receipts.len(), expected.len(), "{target}: {result}");
        // Everyone started together, at the commanded time.
        let start_at = sent["start_at"].as_u64().expect("start_at");
        let spread = starts.iter().max().expect("max") - starts.iter().min().expect("min");
        eprintln!("{target}: start times spread {spread} µs");
        assert!(spread <= 5_000, "{target}: start times spread {spread} µs");
        assert!(
            starts.iter().all(|&s| s.abs_diff(start_at) <= 50_000),
            "{target}: {starts:?} vs {start_at}"
        );

        for (agent, adir, _) in &agents {
            match (expected.contains(agent), played(adir, id)) {
                (true, Some(samples)) => assert_is_the_tone(&samples, agent),
                (true, None) => panic!("{agent} should have played broadcast {id}"),
                (false, Some(_)) => panic!("{agent} played broadcast {id} it was not targeted by"),
                (false, None) => {}
            }
        }
    }

    // Unknown or empty targets are refused.
    let (status, err) = api.call(
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": media_id, "target": {"areas": ["44"]}})),
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["message"], "the target selects no speaker");
    let (status, _) = api.call(
        "POST",
        "/api/broadcasts",
        Some(json!({"media_id": media_id, "target": {"agents": ["nobody"]}})),
    );
    assert_eq!(status, 400);

    // The agents kept the file: one download each, verified.
    for (agent, adir, _) in &agents {
        let cached = std::fs::read_dir(adir.join("cache"))
            .expect("cache dir")
            .count();
        assert_eq!(cached, 1, "{agent}");
    }
}

/// Streams `seconds` of a 1 kHz tone as a live source would: Opus frames with FEC,
/// capture-timestamped, in real time, then an end-of-stream frame.
fn stream_tone(addr: &str, token: &str, id: u64, stream_id: u32, seconds: usize) {
    stream_tone_with(addr, token, id, stream_id, seconds, TONE_HZ, |_| {});
}

/// [`stream_tone`] at `hz`, calling `on_frame(n)` before frame `n` is sent.
fn stream_tone_with(
    addr: &str,
    token: &str,
    id: u64,
    stream_id: u32,
    seconds: usize,
    hz: f64,
    mut on_frame: impl FnMut(usize),
) {
    use dalaba_audio::codec::{Encoder, EncoderSettings};
    use dalaba_protocol::audio_frame::{AudioHeader, FrameFlags};
    use dalaba_protocol::{StreamId, Timestamp};
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut request = format!("ws://{addr}/api/live/{id}/source")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("source connects");
        let mut encoder = Encoder::new(&EncoderSettings::live()).expect("encoder");
        // The source paces itself like a microphone: one 20 ms frame every 20 ms.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        let frames = seconds * 50;
        for seq in 0..frames {
            tick.tick().await;
            on_frame(seq);
            let pcm: Vec<f32> = (0..960)
                .map(|i| {
                    let n = (seq * 960 + i) as f64;
                    ((2.0 * std::f64::consts::PI * hz * n / 48_000.0).sin() * 0.3) as f32
                })
                .collect();
            let packet = encoder.encode(&pcm).expect("encode").to_vec();
            let header = AudioHeader {
                stream_id: StreamId(stream_id),
                seq: seq as u32,
                // Same machine, same clock as the controller.
                capture_time: Timestamp(dalaba_controller::now_us()),
                samples: 960,
                flags: FrameFlags::FEC,
            };
            ws.send(Message::Binary(
                header.to_frame(&packet).expect("frame").into(),
            ))
            .await
            .expect("send");
        }
        let end = AudioHeader {
            stream_id: StreamId(stream_id),
            seq: frames as u32,
            capture_time: Timestamp(dalaba_controller::now_us()),
            samples: 0,
            flags: FrameFlags::END_OF_STREAM,
        };
        ws.send(Message::Binary(end.to_frame(&[]).expect("frame").into()))
            .await
            .expect("send");
        let _ = ws.close(None).await;
    });
}

#[test]
fn live_call_reaches_its_targets_in_order_without_gaps() {
    live_call_to_two_of_three(&[], 1, 150);
}

/// The same with frames written in pairs (`DALABA_LIVE_FRAMES_PER_WRITE`, here for any
/// call to two speakers or more): every frame arrives, in order, and plays without a gap.
#[test]
fn live_call_written_in_pairs_reaches_its_targets_without_gaps() {
    live_call_to_two_of_three(&[("DALABA_LIVE_FRAMES_PER_WRITE", "2=2")], 2, 150);
}

/// And ten at a time from two speakers (pairs from one): the call, asking for no latency,
/// is given 380 ms, twice the 190 ms its first frames wait to be written.
#[test]
fn live_call_written_ten_frames_at_a_time_reaches_its_targets_without_gaps() {
    live_call_to_two_of_three(&[("DALABA_LIVE_FRAMES_PER_WRITE", "1=2,2=10")], 10, 380);
}

/// Speakers v1 and v2 in village 330106001 and w1 in 330106002, each in session, with
/// the directory its WAV output goes to.
fn two_villages(
    dir: &std::path::Path,
    ctl: &Controller,
    api: &Api,
) -> Vec<(&'static str, std::path::PathBuf, Proc)> {
    let mut agents = Vec::new();
    for (id, area) in [
        ("v1", "330106001001"),
        ("v2", "330106001002"),
        ("w1", "330106002001"),
    ] {
        let (_, created) = api.call(
            "POST",
            "/api/agents",
            Some(json!({"id": id, "name": id, "area_code": area})),
        );
        let adir = dir.join(id);
        std::fs::create_dir_all(&adir).expect("mkdir");
        let token = created["enrolment_token"].as_str().expect("token");
        let proc = start_agent(
            &agent_config_wav(&adir, ctl, token, area),
            &adir.join("state"),
        );
        proc.wait_for(&format!("session ready as {id}"));
        agents.push((id, adir, proc));
    }
    agents
}

/// Starts a live call to `area` (at the controller's default latency): (broadcast id,
/// stream id, latency).
fn call_village(api: &Api, area: &str) -> (u64, u32, u64) {
    let (status, live) = api.call(
        "POST",
        "/api/live",
        Some(json!({"target": {"areas": [area]}})),
    );
    assert_eq!(status, 201, "{live}");
    (
        live["id"].as_u64().expect("id"),
        live["stream_id"].as_u64().expect("stream") as u32,
        live["latency_ms"].as_u64().expect("latency"),
    )
}

/// Waits for broadcast `id` to end with every one of its `agents` speakers `done`.
fn assert_done_on(api: &Api, id: u64, agents: usize) {
    let (_, result) = api.call("GET", &format!("/api/broadcasts/{id}?wait_ms=20000"), None);
    let receipts = result["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), agents, "{result}");
    for r in receipts {
        assert_eq!(r["state"], "done", "{r}");
    }
}

/// What `agent` played of a two-second call: the whole tone at `hz`, with no gap.
fn assert_whole_call(samples: &[f32], agent: &str, hz: f64) {
    // Two seconds of tone (give or take the codec's delay and the last frame).
    assert!(
        (samples.len() as i64 - 96_000).abs() <= 2 * 960,
        "{agent}: {} samples",
        samples.len()
    );
    // No gap: no run of silence longer than one frame once the tone has begun.
    let start = samples.iter().position(|s| s.abs() > 0.05).expect("tone");
    let end = samples.iter().rposition(|s| s.abs() > 0.05).expect("tone");
    let mut run = 0;
    let mut longest = 0;
    for s in &samples[start..end] {
        run = if s.abs() < 0.01 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    assert!(longest < 960, "{agent}: a silent gap of {longest} samples");
    assert_is_the_tone_anywhere(&samples[start..end], agent, hz);
}

/// A live call to two of three speakers, its frames written `group` at a time, at
/// `latency_ms` (the default for its size).
fn live_call_to_two_of_three(env: &[(&str, &str)], group: usize, latency_ms: u64) {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(&dir.path().join("controller"), env);
    let api = Api::login(&ctl.addr, &password);
    let agents = two_villages(dir.path(), &ctl, &api);

    let (id, stream_id, latency) = call_village(&api, "330106001");
    assert_eq!(latency, latency_ms);
    stream_tone(&ctl.addr, &api.token, id, stream_id, 2);

    assert_done_on(&api, id, 2);
    let ended = ctl.proc.wait_for("live call ended");
    assert!(ended.contains(&format!("group={group}")), "{ended}");
    for (agent, adir, _) in &agents {
        let played = played(adir, id);
        if *agent == "w1" {
            assert!(played.is_none(), "w1 is outside the target");
            continue;
        }
        let samples = played.unwrap_or_else(|| panic!("{agent} played nothing"));
        assert_whole_call(&samples, agent, TONE_HZ);
    }
}

/// Two calls at once, each to its own village (two village heads speaking together):
/// every speaker plays the whole of its own village's call, at that call's pitch, and
/// nothing of the other's.
#[test]
fn two_live_calls_at_once_each_reach_their_own_village() {
    const OTHER_HZ: f64 = 600.0;
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(&dir.path().join("controller"), &[]);
    let api = Api::login(&ctl.addr, &password);
    let agents = two_villages(dir.path(), &ctl, &api);

    let (first, first_stream, _) = call_village(&api, "330106001");
    let (second, second_stream, _) = call_village(&api, "330106002");
    assert_ne!(first_stream, second_stream);
    std::thread::scope(|s| {
        s.spawn(|| stream_tone(&ctl.addr, &api.token, first, first_stream, 2));
        s.spawn(|| {
            stream_tone_with(
                &ctl.addr,
                &api.token,
                second,
                second_stream,
                2,
                OTHER_HZ,
                |_| {},
            )
        });
    });

    assert_done_on(&api, first, 2);
    assert_done_on(&api, second, 1);
    for (agent, adir, _) in &agents {
        let (mine, other, hz) = if *agent == "w1" {
            (second, first, OTHER_HZ)
        } else {
            (first, second, TONE_HZ)
        };
        assert!(
            played(adir, other).is_none(),
            "{agent} played the other village's call"
        );
        let samples = played(adir, mine).unwrap_or_else(|| panic!("{agent} played nothing"));
        assert_whole_call(&samples, agent, hz);
    }
}

/// At `hz` by zero crossings, over whatever length was played.
fn assert_is_the_tone_anywhere(samples: &[f32], who: &str, hz: f64) {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let measured = crossings as f64 / 2.0 / (samples.len() as f64 / 48_000.0);
    assert!((measured - hz).abs() < 15.0, "{who}: {measured} Hz");
}

#[test]
fn an_agent_killed_mid_call_comes_back_and_resumes() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctl, password) = start_controller_env(&dir.path().join("controller"), &[]);
    let api = Api::login(&ctl.addr, &password);
    let (_, created) = api.call(
        "POST",
        "/api/agents",
        Some(json!({"id": "v1", "name": "v1", "area_code": "330106001001"})),
    );
    let adir = dir.path().join("v1");
    std::fs::create_dir_all(&adir).expect("mkdir");
    let config = agent_config_wav(
        &adir,
        &ctl,
        created["enrolment_token"].as_str().expect("token"),
        "330106001001",
    );
    let mut agent = Some(start_agent(&config, &adir.join("state")));
    agent
        .as_ref()
        .expect("agent")
        .wait_for("session ready as v1");

    let (_, live) = api.call(
        "POST",
        "/api/live",
        Some(json!({"target": {"agents": ["v1"]}})),
    );
    let id = live["id"].as_u64().expect("id");
    let stream_id = live["stream_id"].as_u64().expect("stream") as u32;
    // One second into a five-second call, the agent process dies and is started again.
    stream_tone_with(&ctl.addr, &api.token, id, stream_id, 5, TONE_HZ, |frame| {
        if frame == 50 {
            agent.take().expect("running").stop();
            agent = Some(start_agent(&config, &adir.join("state")));
        }
    });
    agent
        .as_ref()
        .expect("agent")
        .wait_for("session ready as v1");

    let (_, result) = api.call("GET", &format!("/api/broadcasts/{id}?wait_ms=20000"), None);
    let receipts = result["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 1, "{result}");
    assert_eq!(receipts[0]["state"], "done", "{result}");
    // The new process played the rest of the call: at least a second and a half of it
    // (it reconnects after a backoff of 0.5 to 1.5 s), contiguous.
    let samples = played(&adir, id).expect("the restarted agent played");
    let start = samples.iter().position(|s| s.abs() > 0.05).expect("tone");
    let end = samples.iter().rposition(|s| s.abs() > 0.05).expect("tone");
    assert!(
        end - start > 72_000,
        "only {} samples after the restart",
        end - start
    );
    let longest = samples[start..end]
        .split(|s| s.abs() >= 0.01)
        .map(<[f32]>::len)
        .max()
        .unwrap_or(0);
    assert!(longest < 960, "a silent gap of {longest} samples");
}
