//! `dalaba-agent enrol`: a speaker terminal set up from the controller's address and a
//! one-time token, so an installer types nothing else that could be wrong.
//!
//! 1. It connects to the controller's agent listener and shows the SHA-256 of the
//!    certificate presented. Nothing is trusted yet: the installer confirms it is the one
//!    the county gave (`dalaba-controller admin show-pin`), or passes it as `--pin`.
//! 2. Pinned to that certificate, it asks the controller which speaker the token is for
//!    (`POST /agent/enrolment`) and gets the command key to pin.
//! 3. It writes the configuration (checked by the agent's own parser), never over an
//!    existing one unless told, and runs the [`crate::self_test`].

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use dalaba_firmware_config::{Config, ControllerPins, Enrolment, enrolment_document};
use rustls::pki_types::ServerName;

/// What the installer gives (`dalaba-agent enrol`'s arguments).
#[derive(Debug, clap::Args)]
pub struct Options {
    /// The controller's agent endpoint, e.g. wss://10.0.0.5:8443/agent/ws.
    #[arg(long)]
    pub controller: reqwest::Url,
    /// The speaker's one-time enrolment token (from the console's speaker page).
    /// Taken as it is even if it begins with `-` (older controllers made such tokens).
    #[arg(long, allow_hyphen_values = true)]
    pub token: String,
    /// The controller certificate's SHA-256 (`dalaba-controller admin show-pin`); without
    /// it the certificate is shown and you are asked to confirm it.
    #[arg(long)]
    pub pin: Option<String>,
    /// audio.device, if not the system's sound card (`dalaba-agent devices`).
    #[arg(long)]
    pub audio: Option<String>,
    /// cache.dir, if not /var/lib/dalaba/cache.
    #[arg(long)]
    pub cache_dir: Option<String>,
    /// The amplifier's relay board: lcus:PORT or modbus:PORT (e.g. lcus:/dev/ttyUSB0).
    #[arg(long)]
    pub relay: Option<String>,
    /// The relay channels that power the amplifier.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub channels: Vec<u8>,
    /// Where to write the configuration.
    #[arg(long, default_value = "/etc/dalaba/agent.toml")]
    pub config: PathBuf,
    /// Replace an existing configuration.
    #[arg(long)]
    pub force: bool,
    /// Do not click the relays or play the test tone.
    #[arg(long)]
    pub skip_self_test: bool,
}

/// Enrols as `options` say, asking on `input` and telling on `out`.
pub async fn run(
    options: &Options,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let url = &options.controller;
    if url.scheme() != "wss" {
        bail!(
            "--controller {url}: a wss:// address (the controller's agent listener, e.g. wss://HOST:8443/agent/ws)"
        );
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        bail!("--controller {url}: no host or port");
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if options.config.exists() && !options.force {
        bail!(
            "{} exists already: nothing changed (--force replaces it; its agent's identity stays in the state directory)",
            options.config.display()
        );
    }

    // 1. The certificate presented, confirmed by the installer or the given pin.
    let presented = presented_certificate(host, port)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let shown = hex::encode(presented);
    writeln!(out, "The controller at {url} presents the certificate")?;
    writeln!(out, "  sha256 {shown}")?;
    match &options.pin {
        Some(pin) if pin.trim().eq_ignore_ascii_case(&shown) => {
            writeln!(out, "It is the pin given (--pin).")?;
        }
        Some(pin) => bail!(
            "the controller's certificate is not the pin given ({}): a wrong address, or something in between; nothing written",
            pin.trim()
        ),
        None => {
            writeln!(
                out,
                "Is it the one the county gave you (dalaba-controller admin show-pin: tls_fingerprint)?"
            )?;
            write!(out, "Type yes if it is the same: ")?;
            out.flush()?;
            let mut answer = String::new();
            input.read_line(&mut answer)?;
            if !matches!(answer.trim(), "yes" | "y" | "是") {
                bail!("not confirmed: nothing written");
            }
        }
    }

    // 2. Over TLS pinned to it: which speaker the token is for, and the command key.
    let details = details(url, presented, &options.token).await?;
    writeln!(
        out,
        "The token is for speaker {} ({}, area {}).",
        details.agent_id, details.name, details.area_code
    )?;

    // 3. The configuration, checked, then the speaker's own test.
    let mut document = enrolment_document(&Enrolment {
        area_code: &details.area_code,
        name: Some(&details.name),
        pins: ControllerPins {
            url: url.as_str(),
            public_key: &details.public_key,
            tls_fingerprint: Some(&shown),
        },
        enrolment_token: options.token.trim(),
        audio_device: options.audio.as_deref(),
        cache_dir: options.cache_dir.as_deref(),
    })
    .context("the controller's answer does not make a valid configuration")?;
    if let Some(relay) = &options.relay {
        let Some((board, port)) = relay.split_once(':') else {
            bail!("--relay {relay}: BOARD:PORT, e.g. lcus:/dev/ttyUSB0");
        };
        let channels: Vec<String> = options.channels.iter().map(u8::to_string).collect();
        document.push_str(&format!(
            "[relay]\nboard = {}\nport = {}\nchannels = [{}]\n",
            toml_string(board),
            toml_string(port),
            channels.join(", ")
        ));
    }
    let config = Config::parse(&document).map_err(|e| anyhow::anyhow!("--relay: {e}"))?;
    if let Some(dir) = options.config.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    dalaba_firmware_config::files::write_atomic(&options.config, &document)
        .with_context(|| format!("cannot write {}", options.config.display()))?;
    writeln!(out, "Wrote {}.", options.config.display())?;
    if !options.skip_self_test {
        crate::self_test::run(&config, out).await?;
    }
    writeln!(
        out,
        "Start it: systemctl start dalaba-agent (it enrols with the token on its first connection)"
    )?;
    Ok(())
}

/// A string as a TOML value.
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The controller's answer to `POST /agent/enrolment`.
#[derive(Debug, serde::Deserialize)]
struct Details {
    agent_id: String,
    name: String,
    area_code: String,
    public_key: String,
}

async fn details(url: &reqwest::Url, pin: [u8; 32], token: &str) -> anyhow::Result<Details> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(crate::tls::client_config(pin)?)
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut endpoint = url.clone();
    let _ = endpoint.set_scheme("https");
    endpoint.set_path("/agent/enrolment");
    let response = http
        .post(endpoint.as_str())
        .json(&serde_json::json!({ "token": token.trim() }))
        .send()
        .await
        .with_context(|| format!("asking {endpoint}"))?;
    let status = response.status();
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let why = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        bail!("the controller refused the token ({status}): {why}");
    }
    response
        .json()
        .await
        .with_context(|| format!("{endpoint}: not a controller's answer"))
}

/// The SHA-256 of the certificate `host:port` presents, after a handshake in which it
/// proved to hold its key. Nothing is sent over the connection.
async fn presented_certificate(host: &str, port: u16) -> anyhow::Result<[u8; 32]> {
    let seen = Arc::new(Mutex::new(None));
    let config = crate::tls::showing_config(Arc::clone(&seen))?;
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .context("no answer within 10 s")??;
    let name = ServerName::try_from(host.to_owned())?;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .context("no TLS handshake within 10 s")??;
    let seen = *seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.context("no certificate presented")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        options: Options,
    }

    /// A token that begins with `-` (one in 64 did, before controllers stopped making
    /// them) is the token, not an unknown option.
    #[test]
    fn a_token_beginning_with_a_dash_is_taken_as_it_is() {
        let cli = Cli::try_parse_from([
            "enrol",
            "--controller",
            "wss://192.0.2.1:8443/agent/ws",
            "--token",
            "-Mx3_tokenwithadash",
        ])
        .expect("parsed");
        assert_eq!(cli.options.token, "-Mx3_tokenwithadash");
    }
}
