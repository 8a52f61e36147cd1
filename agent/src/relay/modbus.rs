//! Modbus RTU relay boards: channel `n` is coil `n - 1`. Switching uses function 05
//! (write single coil) for one channel and 0F (write multiple coils) for a run of
//! adjacent channels; every switch is read back with function 01 (read coils) and
//! compared. The Modbus stack is tokio-modbus; this module only maps channels to coils.

use std::path::PathBuf;

use tokio_modbus::client::{Context, Reader as _, Writer as _};
use tokio_modbus::prelude::{Slave, rtu};

use super::{BoxFuture, REQUEST_TIMEOUT, RelayBoard, RelayError, RelayState, open_port};

/// A Modbus RTU coil board on a serial port.
pub struct ModbusBoard {
    port: PathBuf,
    baud: u32,
    unit: u8,
    ctx: Option<Context>,
}

impl std::fmt::Debug for ModbusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModbusBoard")
            .field("port", &self.port)
            .field("unit", &self.unit)
            .field("open", &self.ctx.is_some())
            .finish()
    }
}

/// Channels as runs of adjacent coils: `[1, 2, 3, 6]` → `[(0, 3), (5, 1)]`.
fn coil_runs(channels: &[u8]) -> Vec<(u16, u16)> {
    let mut sorted: Vec<u16> = channels.iter().map(|&c| u16::from(c.max(1)) - 1).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for coil in sorted {
        match runs.last_mut() {
            Some((start, len)) if *start + *len == coil => *len += 1,
            _ => runs.push((coil, 1)),
        }
    }
    runs
}

impl ModbusBoard {
    /// A board with Modbus unit id `unit` on `port`; opened on first use.
    pub fn new(port: PathBuf, baud: u32, unit: u8) -> Self {
        Self {
            port,
            baud,
            unit,
            ctx: None,
        }
    }

    fn context(&mut self) -> Result<&mut Context, RelayError> {
        if self.ctx.is_none() {
            let stream = open_port(&self.port, self.baud)?;
            self.ctx = Some(rtu::attach_slave(stream, Slave(self.unit)));
        }
        self.ctx
            .as_mut()
            .ok_or(RelayError::Injected("unreachable: context just opened"))
    }

    /// Runs one request with the timeout, mapping every failure; on failure the port is
    /// closed so that the next request starts clean (and reopens a replugged port).
    async fn request<T>(
        &mut self,
        f: impl for<'c> FnOnce(&'c mut Context) -> BoxFuture<'c, tokio_modbus::Result<T>>,
    ) -> Result<T, RelayError> {
        let port = self.port.clone();
        let ctx = self.context()?;
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, f(ctx)).await {
            Err(_) => Err(RelayError::Timeout { port }),
            Ok(Err(tokio_modbus::Error::Transport(source))) => Err(RelayError::Io { port, source }),
            Ok(Err(source)) => Err(RelayError::Modbus { port, source }),
            Ok(Ok(Err(exception))) => Err(RelayError::Exception { port, exception }),
            Ok(Ok(Ok(v))) => Ok(v),
        };
        if result.is_err() {
            self.ctx = None;
        }
        result
    }
}

impl RelayBoard for ModbusBoard {
    fn kind(&self) -> &'static str {
        "modbus"
    }

    fn switch<'a>(
        &'a mut self,
        channels: &'a [u8],
        state: RelayState,
    ) -> BoxFuture<'a, Result<(), RelayError>> {
        Box::pin(async move {
            let on = state == RelayState::On;
            for (start, len) in coil_runs(channels) {
                if len == 1 {
                    self.request(|ctx| Box::pin(ctx.write_single_coil(start, on)))
                        .await?;
                } else {
                    let coils = vec![on; usize::from(len)];
                    self.request(move |ctx| {
                        Box::pin(async move { ctx.write_multiple_coils(start, &coils).await })
                    })
                    .await?;
                }
            }
            let read = self.read(channels).await?;
            for (&channel, read) in channels.iter().zip(read) {
                if read != Some(state) {
                    return Err(RelayError::Mismatch {
                        channel,
                        set: state,
                        read,
                    });
                }
            }
            Ok(())
        })
    }

    fn read<'a>(
        &'a mut self,
        channels: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<Option<RelayState>>, RelayError>> {
        Box::pin(async move {
            let mut states = Vec::with_capacity(channels.len());
            for &channel in channels {
                let coil = u16::from(channel.max(1)) - 1;
                let bits = self
                    .request(|ctx| Box::pin(ctx.read_coils(coil, 1)))
                    .await?;
                states.push(
                    bits.first()
                        .map(|&b| if b { RelayState::On } else { RelayState::Off }),
                );
            }
            Ok(states)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_map_to_coil_runs() {
        assert_eq!(coil_runs(&[1]), [(0, 1)]);
        assert_eq!(coil_runs(&[1, 2, 3]), [(0, 3)]);
        assert_eq!(coil_runs(&[3, 1, 2, 6]), [(0, 3), (5, 1)]);
    }
}
