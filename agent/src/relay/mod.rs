//! Amplifier power: serial relay boards and the power sequence around audio.
//!
//! - [`RelayBoard`]: the small trait every board implements; backends by name:
//!   [`modbus::ModbusBoard`] (Modbus RTU coils through tokio-modbus),
//!   [`lcus::LcusBoard`] (LCUS `A0 ch state sum` bytes), [`NoBoard`] (`none`), and
//!   [`fake::FakeBoard`], a recording double for tests.
//! - [`sequencer::Sequencer`]: the sans-IO power sequence (on → warm-up → audio → hold →
//!   off, overlapping users share one "on", a watchdog bounds on-time).
//! - [`controller`]: the task that owns a board and a sequencer, and its cheap
//!   [`controller::RelayHandle`].

pub mod controller;
pub mod fake;
pub mod lcus;
pub mod modbus;
pub mod sequencer;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use dalaba_firmware_config::{BoardKind, Relay};
pub use dalaba_protocol::types::RelayState;

/// A boxed future, so boards can be chosen at run time (`Box<dyn RelayBoard>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Longest wait for a board to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a board operation failed. None of these is fatal: the controller reports it in
/// status and retries.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The serial port could not be opened (unplugged, wrong path, no permission).
    #[error("cannot open relay port {}: {source}", port.display())]
    Open {
        /// The port.
        port: PathBuf,
        /// Why.
        #[source]
        source: tokio_serial::Error,
    },
    /// Reading or writing the port failed (the port vanished mid-operation).
    #[error("relay port {}: {source}", port.display())]
    Io {
        /// The port.
        port: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The board did not answer in time.
    #[error("relay board on {} did not answer within {} ms", port.display(), REQUEST_TIMEOUT.as_millis())]
    Timeout {
        /// The port.
        port: PathBuf,
    },
    /// The board answered with garbage or a Modbus protocol error.
    #[error("relay board on {}: {source}", port.display())]
    Modbus {
        /// The port.
        port: PathBuf,
        /// What tokio-modbus reported.
        #[source]
        source: tokio_modbus::Error,
    },
    /// The board refused the request (Modbus exception).
    #[error("relay board on {} refused: {exception}", port.display())]
    Exception {
        /// The port.
        port: PathBuf,
        /// The exception code.
        exception: tokio_modbus::ExceptionCode,
    },
    /// The board reads back a different state than was set.
    #[error("relay channel {channel} reads back {read:?} after being set {set:?}")]
    Mismatch {
        /// The channel.
        channel: u8,
        /// What was set.
        set: RelayState,
        /// What was read.
        read: Option<RelayState>,
    },
    /// A test double was told to fail.
    #[error("{0}")]
    Injected(&'static str),
}

/// A relay board.
pub trait RelayBoard: Send {
    /// The backend's name: `modbus`, `lcus`, `none`, `fake`.
    fn kind(&self) -> &'static str;

    /// Switches every channel in `channels` to `state`.
    fn switch<'a>(
        &'a mut self,
        channels: &'a [u8],
        state: RelayState,
    ) -> BoxFuture<'a, Result<(), RelayError>>;

    /// Reads the channels back; `None` where the board cannot tell.
    fn read<'a>(
        &'a mut self,
        channels: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<Option<RelayState>>, RelayError>>;
}

/// `none`: a speaker without a relay board; the amplifier is always powered.
#[derive(Debug, Default)]
pub struct NoBoard;

impl RelayBoard for NoBoard {
    fn kind(&self) -> &'static str {
        "none"
    }

    fn switch<'a>(
        &'a mut self,
        _: &'a [u8],
        _: RelayState,
    ) -> BoxFuture<'a, Result<(), RelayError>> {
        Box::pin(async { Ok(()) })
    }

    fn read<'a>(
        &'a mut self,
        channels: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<Option<RelayState>>, RelayError>> {
        Box::pin(async move { Ok(vec![None; channels.len()]) })
    }
}

/// The board a configuration names. Opening the port happens on first use (and again
/// after a failure), so a missing port at start-up is a reported fault, not a crash.
pub fn board_for(config: &Relay) -> Box<dyn RelayBoard> {
    match config {
        Relay::None => Box::new(NoBoard),
        Relay::Board(b) => match b.kind {
            BoardKind::Modbus { unit_id } => {
                Box::new(modbus::ModbusBoard::new(b.port.clone(), b.baud, unit_id))
            }
            BoardKind::Lcus => Box::new(lcus::LcusBoard::new(b.port.clone(), b.baud)),
        },
    }
}

/// Opens a serial port for a board.
pub(crate) fn open_port(
    port: &std::path::Path,
    baud: u32,
) -> Result<tokio_serial::SerialStream, RelayError> {
    use tokio_serial::SerialPortBuilderExt as _;
    tokio_serial::new(port.to_string_lossy(), baud)
        .timeout(REQUEST_TIMEOUT)
        .open_native_async()
        .map_err(|source| RelayError::Open {
            port: port.to_owned(),
            source,
        })
}
