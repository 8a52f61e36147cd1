//! Alarms sent out as they are raised and cleared: a plain JSON POST, or a message to the
//! group-chat bots county staff already watch (WeCom 企业微信, DingTalk 钉钉, Feishu 飞书),
//! signed where the bot wants it (DingTalk's and Feishu's "加签"). Each delivery is retried
//! with backoff (1, 2, 4, 8 s) and given up after five tries, in the log; a slow or dead
//! webhook delays nothing else.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::storage::{Alarm, AlarmKind};

/// What a webhook expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookFormat {
    /// `{"event", "alarm", "speaker", "text"}`.
    Json,
    /// A WeCom group robot (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`).
    Wecom,
    /// A DingTalk group robot (`https://oapi.dingtalk.com/robot/send?access_token=…`);
    /// with `secret`, signed.
    Dingtalk,
    /// A Feishu group bot (`https://open.feishu.cn/open-apis/bot/v2/hook/…`); with
    /// `secret`, signed.
    Feishu,
}

/// Where alarms are sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The address (`http://` or `https://`).
    pub url: String,
    /// What it expects.
    pub format: HookFormat,
    /// The signing secret (DingTalk's and Feishu's `SEC…`), if the bot has one.
    #[serde(default)]
    pub secret: Option<String>,
}

impl Webhook {
    /// Why it cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("url: an http:// or https:// address".into());
        }
        if self.url.len() > 1000 {
            return Err("url: at most 1000 characters".into());
        }
        if self.secret.is_some() && matches!(self.format, HookFormat::Json | HookFormat::Wecom) {
            return Err("secret: only DingTalk and Feishu bots sign".into());
        }
        Ok(())
    }
}

/// An alarm raised or cleared.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// `raised` or `cleared`.
    pub event: &'static str,
    /// The alarm.
    pub alarm: Alarm,
    /// The speaker as people know it (village, name, id).
    pub speaker: String,
}

impl Event {
    /// `alarm` was raised.
    pub fn raised(alarm: &Alarm, speaker: &str) -> Self {
        Self {
            event: "raised",
            alarm: alarm.clone(),
            speaker: speaker.to_owned(),
        }
    }

    /// `alarm`'s cause went at `at`.
    pub fn cleared(alarm: &Alarm, speaker: &str, at: u64) -> Self {
        let mut alarm = alarm.clone();
        alarm.cleared_at = Some(at);
        Self {
            event: "cleared",
            alarm,
            speaker: speaker.to_owned(),
        }
    }

    /// The message, Chinese first: `【大喇叭告警】西湖区 东村 东村1号 (dong-1)：离线 — offline for 5 min`.
    pub fn text(&self) -> String {
        let what = match self.alarm.kind {
            AlarmKind::Offline => "离线",
            AlarmKind::Fault => "故障",
            AlarmKind::Clock => "时钟偏差",
            AlarmKind::BroadcastFailed => "播放失败",
        };
        match self.event {
            "cleared" => format!("【大喇叭恢复】{}：{what}已恢复", self.speaker),
            _ => format!(
                "【大喇叭告警】{}：{what} — {}",
                self.speaker,
                self.alarm
                    .detail
                    .as_deref()
                    .unwrap_or(self.alarm.kind.as_str())
            ),
        }
    }
}

/// The address and body of `event` for `hook`, signed at `now_ms` (ms since 1970) where
/// the bot wants it.
pub fn request(hook: &Webhook, event: &Event, now_ms: u64) -> (String, Value) {
    let text = event.text();
    let sign = |key: &[u8], message: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(message);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    match hook.format {
        HookFormat::Json => (
            hook.url.clone(),
            json!({"event": event.event, "alarm": event.alarm, "speaker": event.speaker, "text": text}),
        ),
        HookFormat::Wecom => (
            hook.url.clone(),
            json!({"msgtype": "text", "text": {"content": text}}),
        ),
        HookFormat::Dingtalk => {
            let body = json!({"msgtype": "text", "text": {"content": text}});
            let Some(secret) = &hook.secret else {
                return (hook.url.clone(), body);
            };
            // HMAC-SHA256 over "timestamp\nsecret" with the secret, base64, URL-encoded.
            let signature = sign(secret.as_bytes(), format!("{now_ms}\n{secret}").as_bytes());
            let encoded = signature
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D");
            let joiner = if hook.url.contains('?') { '&' } else { '?' };
            (
                format!("{}{joiner}timestamp={now_ms}&sign={encoded}", hook.url),
                body,
            )
        }
        HookFormat::Feishu => {
            let mut body = json!({"msg_type": "text", "content": {"text": text}});
            if let Some(secret) = &hook.secret {
                // HMAC-SHA256 with "timestamp\nsecret" as the key over nothing, base64.
                let seconds = now_ms / 1000;
                body["timestamp"] = json!(seconds.to_string());
                body["sign"] = json!(sign(format!("{seconds}\n{secret}").as_bytes(), b""));
            }
            (hook.url.clone(), body)
        }
    }
}

/// Whether a bot's answer says it took the message: HTTP 2xx, and for the bots their own
/// code 0 (they answer 200 with an error code for a bad signature or key).
fn accepted(format: HookFormat, status: reqwest::StatusCode, body: &Value) -> bool {
    status.is_success()
        && match format {
            HookFormat::Json => true,
            HookFormat::Wecom | HookFormat::Dingtalk => body["errcode"].as_i64() == Some(0),
            HookFormat::Feishu => {
                body["code"].as_i64() == Some(0) || body["StatusCode"].as_i64() == Some(0)
            }
        }
}

/// Delivers events in the background, each to each webhook, retried with backoff.
#[derive(Clone, Debug)]
pub struct Sender {
    http: reqwest::Client,
}

/// Tries per delivery.
const TRIES: u32 = 5;

impl Sender {
    /// A sender.
    pub fn start() -> Self {
        // reqwest is built without a default crypto provider; ring is the process's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http }
    }

    /// Sends `event` to every hook in `hooks`, each on its own.
    pub fn send(&self, hooks: &[Webhook], event: Event) {
        for hook in hooks {
            let (http, hook, event) = (self.http.clone(), hook.clone(), event.clone());
            tokio::spawn(async move { deliver(&http, &hook, &event).await });
        }
    }
}

async fn deliver(http: &reqwest::Client, hook: &Webhook, event: &Event) {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=TRIES {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (url, body) = request(hook, event, now_ms);
        let why = match http.post(&url).json(&body).send().await {
            Ok(response) => {
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                if accepted(hook.format, status, &answer) {
                    return;
                }
                format!("{status} {answer}")
            }
            Err(e) => e.to_string(),
        };
        if attempt == TRIES {
            tracing::error!(webhook = %hook.url, alarm = event.alarm.id, "alarm not delivered after {TRIES} tries: {why}");
            return;
        }
        tracing::warn!(webhook = %hook.url, alarm = event.alarm.id, "alarm not delivered ({why}); again in {} s", delay.as_secs());
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event::raised(
            &Alarm {
                id: 7,
                kind: AlarmKind::Offline,
                agent_id: "dong-1".into(),
                detail: Some("offline for 5 min".into()),
                raised_at: 1,
                cleared_at: None,
                acked_by: None,
                acked_at: None,
            },
            "西湖区 东村 东村1号 (dong-1)",
        )
    }

    /// The signatures DingTalk's and Feishu's own Python samples compute (hmac, hashlib,
    /// base64, urllib.parse.quote_plus), for these secrets and timestamps.
    #[test]
    fn dingtalk_and_feishu_signatures_are_the_bots_own() {
        let hook = Webhook {
            url: "https://oapi.dingtalk.com/robot/send?access_token=abc".into(),
            format: HookFormat::Dingtalk,
            secret: Some("SECtest".into()),
        };
        let (url, body) = request(&hook, &event(), 1_700_000_000_000);
        assert_eq!(
            url,
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"
        );
        assert_eq!(body["msgtype"], "text");
        assert!(body["text"]["content"].as_str().unwrap().contains("离线"));

        let hook = Webhook {
            url: "https://open.feishu.cn/open-apis/bot/v2/hook/x".into(),
            format: HookFormat::Feishu,
            secret: Some("fs-secret".into()),
        };
        let (_, body) = request(&hook, &event(), 1_700_000_000_999);
        assert_eq!(body["timestamp"], "1700000000");
        assert_eq!(body["sign"], "ognpFOmraex6LA29Ao14dsiNmmjE3YO4x5e/SX8n9Bw=");
        assert_eq!(body["msg_type"], "text");
    }

    #[test]
    fn a_webhook_is_checked() {
        let hook = |url: &str, format, secret: Option<&str>| Webhook {
            url: url.into(),
            format,
            secret: secret.map(str::to_owned),
        };
        assert!(
            hook("https://example.org/x", HookFormat::Json, None)
                .check()
                .is_ok()
        );
        assert!(
            hook("ftp://example.org/x", HookFormat::Json, None)
                .check()
                .is_err()
        );
        assert!(hook("not a url", HookFormat::Wecom, None).check().is_err());
        assert!(
            hook("https://example.org/x", HookFormat::Wecom, Some("s"))
                .check()
                .is_err()
        );
    }
}
