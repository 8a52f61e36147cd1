//! Text to speech with the real eSpeak NG: each offered voice reads Hanzi in its own
//! language, speech is made once per text, an alert's text is spoken after its tone, and
//! an engine that fails lets the alert go out with its tone alone.

mod common;

use axum::http::StatusCode;
use common::harness::Harness;
use dalaba_controller::tts::{self, Voice};
use dalaba_protocol::command::{Command, PlayMedia};
use serde_json::json;

const WARNING: &str = "山洪预警：请沿河村民立即转移到高处，注意安全。";

#[test]
fn every_offered_voice_reads_hanzi_in_its_own_language() {
    for sentence in [
        WARNING,
        "今晚十八点三十分在村委会开会",
        "反诈专线幺二三七九",
        "长江水位上涨",
    ] {
        for voice in Voice::ALL {
            let phonemes = tts::phonemes(sentence, voice).expect("espeak-ng");
            assert!(
                !phonemes.trim().is_empty(),
                "{voice:?}: nothing for {sentence}"
            );
            // eSpeak marks a switch of language with `(en)`: the Hanzi would be spelled
            // out in English ("Chinese letter", or pinyin read as English).
            assert!(
                !phonemes.contains("(en)"),
                "{voice:?} switches to English for {sentence}: {phonemes}"
            );
        }
    }
}

/// Sets how the deployment speaks (as the admin).
async fn use_settings(h: &Harness, admin: &str, settings: serde_json::Value) {
    let (status, set) = h
        .call(Some(admin), "PUT", "/api/settings/tts", Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
}

fn play(c: Command) -> Option<PlayMedia> {
    match c {
        Command::PlayMedia(p) => Some(p),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_is_made_once_per_text_and_can_be_previewed() {
    let h = Harness::start().await;
    let first = tts::speak(&h.state, WARNING, None).await.expect("speech");
    let again = tts::speak(&h.state, WARNING, None).await.expect("speech");
    assert_eq!(first, again, "the same text is synthesised once");
    let other = tts::speak(&h.state, "今晚停水", None)
        .await
        .expect("speech");
    assert_ne!(first, other);
    let media = h.state.storage.media(first).unwrap().expect("media");
    let ms = media.duration_ms.expect("duration");
    // 24 characters at an announcer's pace: a few seconds, not a blip and not a minute.
    assert!((2_000..20_000).contains(&ms), "{ms} ms");

    // Speech is peaky: it reaches the loudness target only through the limiter, and its
    // true peak stays under the ceiling, measured on what speakers will decode.
    let file = dalaba_controller::media::file_of(&h.state, media.hash.as_deref().unwrap())
        .await
        .expect("its file");
    let decoded =
        dalaba_audio::transcode::decode_ogg_opus_file(&file, std::time::Duration::from_secs(60))
            .expect("decodes");
    let m = dalaba_audio::loudness::measure(&decoded.samples, 48_000).expect("measures");
    eprintln!(
        "{WARNING}: {ms} ms, gain {:?} dB, {:.2} LUFS, {:.2} dBTP",
        media.gain_db, m.integrated_lufs, m.true_peak_dbtp
    );
    assert!((m.integrated_lufs + 16.0).abs() <= 1.0, "{m:?}");
    assert!(m.true_peak_dbtp <= -1.0 + 0.05, "{m:?}");

    let admin = h.admin().await;
    let (status, headers, audio) = h
        .post_bytes(&admin, "/api/tts/preview", json!({"text": WARNING}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&audio[..4], b"OggS", "an Ogg stream");
    assert_eq!(
        headers.get("x-dalaba-media-id").unwrap(),
        &first.to_string()
    );
    let (status, body) = h
        .call(
            Some(&admin),
            "POST",
            "/api/tts/preview",
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let long = "长".repeat(tts::MAX_TEXT_CHARS + 1);
    let (status, body) = h
        .call(
            Some(&admin),
            "POST",
            "/api/tts/preview",
            Some(json!({"text": long})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2000"),
        "{body}"
    );
}

fn drill(text: &str) -> serde_json::Value {
    json!({
        "severity": "orange", "event": "山洪", "areas": ["330106"], "mode": "drill",
        "expires_at": dalaba_controller::now_us() + 600_000_000, "text": text,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alerts_text_is_spoken_after_its_tone() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let (status, alert) = h
        .call(Some(&admin), "POST", "/api/alerts", Some(drill(WARNING)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert!(alert.get("speech_error").is_none(), "{alert}");
    let play = dong.command(play).await.expect("the alert reaches dong-1");
    // The drill prelude is 3 s, then half a second of silence, then the words.
    let prelude = tts_free_prelude_ms();
    assert!(
        play.media.duration_ms > prelude + 2_000,
        "{} ms: no speech after the {prelude} ms tone",
        play.media.duration_ms
    );
}

/// The drill prelude's length, ms.
fn tts_free_prelude_ms() -> u64 {
    u64::from(dalaba_controller::alert::prelude(dalaba_protocol::Mode::Drill).duration_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_engine_lets_the_alert_go_out_with_its_tone() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    use_settings(
        &h,
        &admin,
        json!({"engine": {"kind": "command", "program": "false"}}),
    )
    .await;
    let (status, alert) = h
        .call(Some(&admin), "POST", "/api/alerts", Some(drill(WARNING)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let why = alert["speech_error"]
        .as_str()
        .expect("the failure is recorded");
    assert!(why.contains("false failed"), "{why}");
    let play = dong
        .command(play)
        .await
        .expect("the alert still reaches dong-1");
    let prelude = tts_free_prelude_ms();
    assert!(
        play.media.duration_ms.abs_diff(prelude) < 200,
        "{} ms for a {prelude} ms tone alone",
        play.media.duration_ms
    );
    let (_, metrics) = h.text("/metrics").await;
    assert!(
        metrics.contains("dalaba_tts_failures_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_engine_speaks_through_a_script() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    // A wrapper such as a Piper or sherpa-onnx one: text on stdin, WAV on stdout, the
    // voice as its last argument (here `$0`, unused).
    use_settings(
        &h,
        &admin,
        json!({"engine": {"kind": "command", "program": "sh",
                "args": ["-c", "exec espeak-ng --stdout -b 1 -v cmn-latn-pinyin"]}}),
    )
    .await;
    let id = tts::speak(&h.state, "今晚停水", None)
        .await
        .expect("speech");
    let media = h.state.storage.media(id).unwrap().expect("media");
    assert!(media.duration_ms.unwrap_or(0) > 500, "{media:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_notice_is_broadcast_as_speech() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let (status, sent) = h
        .call(
            Some(&admin),
            "POST",
            "/api/broadcasts",
            Some(json!({"text": "今晚十八点三十分在村委会开会", "target": {"agents": ["dong-1"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let play = dong.command(play).await.expect("dong-1 is told to play");
    assert_eq!(play.broadcast_id.0, sent["id"].as_u64().unwrap());
    assert!(
        play.media.duration_ms > 1_500,
        "{} ms",
        play.media.duration_ms
    );
    // Neither, or both, is refused with what to send.
    let (status, body) = h
        .call(
            Some(&admin),
            "POST",
            "/api/broadcasts",
            Some(json!({"target": {"agents": ["dong-1"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("media_id or text")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_hangs_is_given_up_and_the_alert_goes_out() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    use_settings(
        &h,
        &admin,
        json!({"engine": {"kind": "command", "program": "sh", "args": ["-c", "exec sleep 30"]},
               "timeout_s": 1}),
    )
    .await;
    let (status, alert) = h
        .call(Some(&admin), "POST", "/api/alerts", Some(drill(WARNING)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let why = alert["speech_error"]
        .as_str()
        .expect("the hang is recorded");
    assert!(why.contains("longer than 1 s"), "{why}");
    dong.command(play)
        .await
        .expect("the alert still reaches dong-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speakers_get_their_full_lead_however_long_speech_takes() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    // A slow engine (a bigger model on a small machine): 2.5 s before it speaks.
    use_settings(
        &h,
        &admin,
        json!({"engine": {"kind": "command", "program": "sh",
                "args": ["-c", "sleep 2.5; exec espeak-ng --stdout -b 1 -v cmn-latn-pinyin"]}}),
    )
    .await;
    let (status, alert) = h
        .call(Some(&admin), "POST", "/api/alerts", Some(drill(WARNING)))
        .await;
    let answered = dalaba_controller::now_us();
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let play = dong.command(play).await.expect("the alert reaches dong-1");
    // The start leaves speakers the lead to fetch the audio from when it was ready, not
    // from when the alert was posted (else a slow engine eats it, and the tone starts late).
    assert!(
        play.start_at.0 > answered + dalaba_controller::alert::LEAD_US / 2,
        "starts {} ms after the answer",
        (play.start_at.0 as i64 - answered as i64) / 1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_item_can_be_a_typed_notice() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let notice = "反诈提醒：陌生来电让您转账的，都是诈骗。";
    let (status, playlist) = h
        .call(
            Some(&admin),
            "POST",
            "/api/playlists",
            Some(json!({"name": "每日反诈", "items": [{"text": notice, "repeat": 2}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{playlist}");
    let item = &playlist["items"][0];
    assert_eq!(item["text"], notice, "{playlist}");
    let media_id = item["media_id"].as_u64().expect("its speech");
    assert_eq!(
        media_id,
        tts::speak(&h.state, notice, None).await.expect("cached")
    );
    // An item must say what it plays.
    let (status, body) = h
        .call(
            Some(&admin),
            "POST",
            "/api/playlists",
            Some(json!({"name": "空", "items": [{"repeat": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("media_id or text"),
        "{body}"
    );
}

/// A speech server on 127.0.0.1:0 that answers every request with `answer` and hands
/// each request it got (query, text) to the returned receiver.
async fn speech_server(
    answer: (StatusCode, Vec<u8>),
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    let (seen, heard) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/tts",
        axum::routing::post(
            move |query: axum::extract::RawQuery, text: String| async move {
                let _ = seen.send((query.0.unwrap_or_default(), text));
                answer
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/tts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, heard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_engine_is_sent_the_prepared_text_and_its_wav_is_spoken() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let wav = common::tone_wav(440.0, 1.5, 22_050);
    let (url, mut heard) = speech_server((StatusCode::OK, wav)).await;
    use_settings(
        &h,
        &admin,
        json!({"engine": {"kind": "http", "url": url}, "voices": ["mandarin", "cantonese"],
               "rate_wpm": 120}),
    )
    .await;
    let id = tts::speak(&h.state, "18:30开会", None)
        .await
        .expect("speech");
    // Each voice in turn, with the text as an announcer reads it.
    for voice in ["mandarin", "cantonese"] {
        let (query, text) = heard.recv().await.expect("a request");
        assert_eq!(query, format!("voice={voice}&rate_wpm=120"));
        assert_eq!(text, "十八点三十分开会");
    }
    // Two 1.5 s answers half a second apart.
    let media = h.state.storage.media(id).unwrap().expect("media");
    let ms = media.duration_ms.expect("duration");
    assert!(ms.abs_diff(3500) < 100, "{ms} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_speech_server_lets_the_alert_go_out_and_says_why() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let (refuses, _) = speech_server((
        StatusCode::SERVICE_UNAVAILABLE,
        b"model still loading".to_vec(),
    ))
    .await;
    let (not_wav, _) = speech_server((StatusCode::OK, b"<html>login</html>".to_vec())).await;
    for (url, want) in [
        (refuses, "503 Service Unavailable: model still loading"),
        (not_wav, "not with a WAV file"),
    ] {
        use_settings(&h, &admin, json!({"engine": {"kind": "http", "url": url}})).await;
        let (status, alert) = h
            .call(Some(&admin), "POST", "/api/alerts", Some(drill(WARNING)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{alert}");
        let why = alert["speech_error"].as_str().expect("the failure");
        assert!(why.contains(want), "{why}");
        dong.command(play).await.expect("the alert still goes out");
    }
    // A URL that is no speech server is refused when set, with an example.
    let (status, err) = h
        .call(
            Some(&admin),
            "PUT",
            "/api/settings/tts",
            Some(json!({"engine": {"kind": "http", "url": "ftp://x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err.to_string().contains("http://10.0.0.5:5002/tts"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_can_ask_for_its_own_voices() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let mut dong = h.speaker("dong-1", "330106001001").await;
    let wav = common::tone_wav(440.0, 1.0, 16_000);
    let (url, mut heard) = speech_server((StatusCode::OK, wav)).await;
    use_settings(&h, &admin, json!({"engine": {"kind": "http", "url": url}})).await;
    // The deployment speaks Mandarin; this alert, for a Cantonese-speaking village, asks
    // for Cantonese first.
    let mut alert = drill(WARNING);
    alert["voices"] = json!(["cantonese", "mandarin"]);
    let (status, made) = h
        .call(Some(&admin), "POST", "/api/alerts", Some(alert.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    for voice in ["cantonese", "mandarin"] {
        let (query, _) = heard.recv().await.expect("a request");
        assert!(query.starts_with(&format!("voice={voice}&")), "{query}");
    }
    dong.command(play).await.expect("the alert reaches dong-1");
    // No voice at all is refused with the ones there are, before anything is stored.
    let (_, before) = h.call(Some(&admin), "GET", "/api/alerts", None).await;
    alert["voices"] = json!([]);
    let (status, err) = h
        .call(Some(&admin), "POST", "/api/alerts", Some(alert))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err.to_string().contains("mandarin, cantonese"), "{err}");
    let (_, after) = h.call(Some(&admin), "GET", "/api/alerts", None).await;
    assert_eq!(before, after, "a refused alert was stored");
}
