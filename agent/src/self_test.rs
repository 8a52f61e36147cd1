//! `dalaba-agent self-test`: what an installer on the pole runs before leaving. Each relay
//! channel is switched on in turn (a click to hear, read back where the board can tell),
//! the amplifier gets its warm-up, one second of 1 kHz plays on the configured sound
//! device, and everything is switched off again, whatever failed. Each step says what it
//! did; a failure says what to check.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use dalaba_audio::sink::SinkSpec;
use dalaba_firmware_config::{Config, Relay};
use dalaba_protocol::types::RelayState;

use crate::relay::{RelayBoard, RelayError};

/// Between two channels' clicks, so each is heard on its own.
const CLICK_GAP: Duration = Duration::from_millis(300);

/// Runs every check on the speaker `config` describes, saying each on `out`.
pub async fn run(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    let channels = match &config.relay {
        Relay::None => Vec::new(),
        Relay::Board(b) => b.channels.clone(),
    };
    let mut board = crate::relay::board_for(&config.relay);
    let result = check(config, board.as_mut(), &channels, out).await;
    // The amplifier ends switched off, whatever happened (the first failure is the one
    // reported).
    let off = if channels.is_empty() {
        Ok(())
    } else {
        board.switch(&channels, RelayState::Off).await
    };
    result?;
    off.map_err(what_to_check)?;
    if !channels.is_empty() {
        writeln!(out, "relay: all channels off")?;
    }
    writeln!(out, "ready: every check passed")?;
    Ok(())
}

async fn check(
    config: &Config,
    board: &mut dyn RelayBoard,
    channels: &[u8],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Relay::Board(b) = &config.relay {
        for &channel in channels {
            board
                .switch(&[channel], RelayState::On)
                .await
                .map_err(what_to_check)?;
            let read = board
                .read(&[channel])
                .await
                .map_err(what_to_check)?
                .first()
                .copied()
                .flatten();
            match read {
                Some(RelayState::On) => writeln!(out, "relay channel {channel}: on (read back)")?,
                None => writeln!(
                    out,
                    "relay channel {channel}: on (a {} board cannot be read back: listen for the click)",
                    board.kind()
                )?,
                Some(other) => anyhow::bail!(
                    "relay channel {channel}: switched on but reads back {other:?}: check the channel numbers in [relay] channels"
                ),
            }
            tokio::time::sleep(CLICK_GAP).await;
        }
        tokio::time::sleep(b.warm_up).await;
    } else {
        writeln!(
            out,
            "relay: none configured (the amplifier is powered all the time)"
        )?;
    }
    let device = config.audio.device.clone();
    let backend = tokio::task::spawn_blocking(move || tone(&device))
        .await
        .context("the sound test stopped")??;
    writeln!(
        out,
        "sound: 1 s of 1 kHz played on {} ({backend}): you should have heard it",
        config.audio.device
    )?;
    Ok(())
}

/// Plays one second of 1 kHz at a quarter of full scale on `device`.
fn tone(device: &str) -> anyhow::Result<&'static str> {
    let fix = "`dalaba-agent devices` lists the sound devices for audio.device";
    let spec: SinkSpec = device
        .parse()
        .with_context(|| format!("sound: audio.device {device:?}: {fix}"))?;
    let mut sink = spec
        .open()
        .with_context(|| format!("sound: cannot open {device}: {fix}"))?;
    let block: Vec<f32> = (0..960)
        .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin() * 0.25)
        .collect();
    for _ in 0..50 {
        sink.write(&block)
            .with_context(|| format!("sound: playing on {device}"))?;
    }
    sink.finish()
        .with_context(|| format!("sound: playing on {device}"))?;
    Ok(sink.backend())
}

/// A relay failure, with what the installer should look at.
fn what_to_check(e: RelayError) -> anyhow::Error {
    let hint = match &e {
        RelayError::Open { .. } | RelayError::Io { .. } => {
            "check the USB or RS-485 cable and the port's name (ls -l /dev/serial/by-id/); the service's user needs the dialout group"
        }
        RelayError::Timeout { .. } => {
            "the board is silent: check its power, the baud rate and (Modbus) its unit id"
        }
        _ => "check [relay] board, baud and unit_id against the board's label",
    };
    anyhow::anyhow!("relay: {e}: {hint}")
}
