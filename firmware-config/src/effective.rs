//! Writing the effective configuration back out, defaults and all.

use std::fmt::Write as _;

use crate::config::{BoardKind, Config, Relay};

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

pub(crate) fn to_toml(c: &Config) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "[identity]");
    if let Some(id) = &c.identity.agent_id {
        let _ = writeln!(o, "agent_id = {}", quote(id.as_str()));
    }
    let _ = writeln!(o, "area_code = {}", quote(c.identity.area_code.as_str()));
    if let Some(name) = &c.identity.name {
        let _ = writeln!(o, "name = {}", quote(name));
    }
    let _ = writeln!(o, "\n[controller]");
    let _ = writeln!(o, "url = {}", quote(c.controller.url.as_str()));
    let _ = writeln!(
        o,
        "public_key = {}",
        quote(&c.controller.public_key.to_base64())
    );
    if let Some(fp) = &c.controller.tls_fingerprint {
        let hex: Vec<String> = fp.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            o,
            "tls_fingerprint = {}",
            quote(&format!("sha256:{}", hex.join(":")))
        );
    }
    if c.controller.enrolment_token.is_some() {
        // A secret: say that it is set, never print it.
        let _ = writeln!(o, "# enrolment_token is set (not shown)");
    }
    let _ = writeln!(
        o,
        "reconnect_max_s = {}",
        c.controller.reconnect_max.as_secs()
    );
    let a = &c.audio;
    let _ = writeln!(o, "\n[audio]");
    let _ = writeln!(o, "device = {}", quote(&a.device));
    let _ = writeln!(o, "volume = {}", a.volume.percent());
    let _ = writeln!(o, "\n[audio.max_volume]");
    let _ = writeln!(o, "live = {}", a.caps.live.percent());
    let _ = writeln!(o, "scheduled = {}", a.caps.scheduled.percent());
    let _ = writeln!(o, "background = {}", a.caps.background.percent());
    if let Some(q) = &a.quiet_hours {
        let _ = writeln!(o, "\n[audio.quiet_hours]");
        let _ = writeln!(o, "start = \"{}\"", q.start);
        let _ = writeln!(o, "end = \"{}\"", q.end);
        let _ = writeln!(o, "max_volume = {}", q.max_volume.percent());
    }
    let _ = writeln!(o, "\n[relay]");
    match &c.relay {
        Relay::None => {
            let _ = writeln!(o, "board = \"none\"");
        }
        Relay::Board(b) => {
            match b.kind {
                BoardKind::Modbus { unit_id } => {
                    let _ = writeln!(o, "board = \"modbus\"\nunit_id = {unit_id}");
                }
                BoardKind::Lcus => {
                    let _ = writeln!(o, "board = \"lcus\"");
                }
            }
            let _ = writeln!(o, "port = {}", quote(&b.port.to_string_lossy()));
            let _ = writeln!(o, "baud = {}", b.baud);
            let channels: Vec<String> = b.channels.iter().map(u8::to_string).collect();
            let _ = writeln!(o, "channels = [{}]", channels.join(", "));
            let _ = writeln!(o, "warm_up_ms = {}", b.warm_up.as_millis());
            let _ = writeln!(o, "hold_ms = {}", b.hold.as_millis());
            let _ = writeln!(o, "max_on_s = {}", b.max_on.as_secs());
        }
    }
    let _ = writeln!(o, "\n[cache]");
    let _ = writeln!(o, "dir = {}", quote(&c.cache.dir.to_string_lossy()));
    let _ = writeln!(o, "max_mb = {}", c.cache.max_bytes / (1024 * 1024));
    let _ = writeln!(o, "\n[schedule]");
    let _ = writeln!(o, "offline = {}", c.offline_schedule);
    let _ = writeln!(o, "\n[log]");
    let _ = writeln!(o, "level = {}", quote(&c.log.level));
    let format = match c.log.format {
        crate::LogFormat::Text => "text",
        crate::LogFormat::Json => "json",
    };
    let _ = writeln!(o, "format = \"{format}\"");
    o
}
