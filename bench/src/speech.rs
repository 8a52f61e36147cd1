//! Speech: how fast text becomes a library item (eSpeak NG, then the media pipeline), as a
//! multiple of real time, and how long from `POST /api/alerts` with 200 characters of text
//! to its attention tone starting in a real agent's paced sink (its `playing` receipt,
//! sent with the first sample written).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::rig::{self, Api};

/// A Chinese notice of about `chars` characters, unique by `n` (speech is cached by text).
fn notice(chars: usize, n: usize) -> String {
    let base = "山洪预警：请沿河村民立即转移到高处，注意安全。今晚十八点三十分在村委会开会，请各户派一人参加。";
    let mut text = format!("第{n}号通知。");
    while text.chars().count() < chars {
        text.push_str(base);
    }
    text.chars().take(chars).collect()
}

/// Synthesis speed for one text: (audio seconds, wall seconds).
async fn synthesis(api: &Api, text: &str) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let response = api
        .http
        .post(format!("{}/api/tts/preview", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"text": text}))
        .send()
        .await?
        .error_for_status()?;
    let id: u64 = response
        .headers()
        .get("x-dalaba-media-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .context("X-Dalaba-Media-Id")?;
    let _ = response.bytes().await?;
    let wall = started.elapsed().as_secs_f64();
    let media = api.get(&format!("/api/media/{id}")).await?;
    let audio = media["duration_ms"].as_f64().context("duration")? / 1000.0;
    Ok((audio, wall))
}

/// Runs the benchmark; its figures as JSON.
pub(crate) async fn suite() -> anyhow::Result<Value> {
    let dir = rig::scratch("speech");
    let (_ctl, api, _agent, _agent_dir) = rig::one_agent(&dir).await?;
    println!("\nspeech (eSpeak NG Mandarin, then loudness, limiter and Opus)");
    println!(
        "{:>6} {:>9} {:>9} {:>11}",
        "chars", "audio s", "wall s", "× realtime"
    );
    let mut rows = Vec::new();
    for (n, chars) in [50usize, 100, 200].into_iter().enumerate() {
        let (audio, wall) = synthesis(&api, &notice(chars, n)).await?;
        println!("{chars:>6} {audio:>9.1} {wall:>9.2} {:>11.1}", audio / wall);
        rows.push(
            json!({"chars": chars, "audio_s": audio, "wall_s": wall, "realtime": audio / wall}),
        );
    }

    // An alert with 200 characters of new text, to the tone starting at the speaker.
    let posted_us = rig::now_us();
    let alert = api
        .post(
            "/api/alerts",
            json!({
                "severity": "orange", "event": "山洪", "areas": ["330106"], "mode": "drill",
                "expires_at": posted_us + 600_000_000, "text": notice(200, 99),
            }),
        )
        .await?;
    let answered_us = rig::now_us();
    if alert.get("speech_error").is_some() {
        bail!("the alert was not spoken: {alert}");
    }
    let broadcast = alert["broadcast_id"].as_u64().context("broadcast_id")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let started_us = loop {
        let b = api
            .get(&format!("/api/broadcasts/{broadcast}?wait_ms=2000"))
            .await?;
        if let Some(at) = b["receipts"]
            .as_array()
            .and_then(|r| r.iter().find_map(|r| r["started_at"].as_u64()))
        {
            break at;
        }
        if Instant::now() > deadline {
            bail!("the alert never started: {b}");
        }
    };
    let to_answer = (answered_us - posted_us) as f64 / 1e6;
    let to_tone = started_us.saturating_sub(posted_us) as f64 / 1e6;
    // The controller's `alert::LEAD_US`: time for speakers to fetch the audio.
    let lead = 2.0;
    println!(
        "alert with 200 characters of text: answered in {to_answer:.2} s (speech made), \
         tone starts {to_tone:.2} s after the POST (of which {lead:.1} s is the lead for \
         speakers to fetch)"
    );
    rig::cleanup(&dir);
    Ok(json!({
        "synthesis": rows,
        "alert_200_chars": {"answered_s": to_answer, "tone_starts_s": to_tone},
    }))
}
