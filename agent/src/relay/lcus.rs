//! LCUS USB relay boards (CH340 serial at 9600 baud): four bytes per command,
//! `A0 <channel> <state> <checksum>`, state `01` on and `00` off, checksum the low byte of
//! the sum of the first three. The boards do not answer, so state cannot be read back.

use std::path::PathBuf;

use tokio::io::AsyncWriteExt as _;

use super::{BoxFuture, REQUEST_TIMEOUT, RelayBoard, RelayError, RelayState, open_port};

/// The four command bytes for one channel.
pub fn command(channel: u8, state: RelayState) -> [u8; 4] {
    let s = match state {
        RelayState::On => 0x01,
        RelayState::Off => 0x00,
    };
    [
        0xA0,
        channel,
        s,
        0xA0u8.wrapping_add(channel).wrapping_add(s),
    ]
}

/// An LCUS board on a serial port.
#[derive(Debug)]
pub struct LcusBoard {
    port: PathBuf,
    baud: u32,
    stream: Option<tokio_serial::SerialStream>,
}

impl LcusBoard {
    /// A board on `port`; the port is opened on first use.
    pub fn new(port: PathBuf, baud: u32) -> Self {
        Self {
            port,
            baud,
            stream: None,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        if self.stream.is_none() {
            self.stream = Some(open_port(&self.port, self.baud)?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let io = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(RelayError::Io {
                port: self.port.clone(),
                source,
            }),
            Err(_) => Err(RelayError::Timeout {
                port: self.port.clone(),
            }),
        };
        if result.is_err() {
            // Reopen next time: the port may have been unplugged and come back.
            self.stream = None;
        }
        result
    }
}

impl RelayBoard for LcusBoard {
    fn kind(&self) -> &'static str {
        "lcus"
    }

    fn switch<'a>(
        &'a mut self,
        channels: &'a [u8],
        state: RelayState,
    ) -> BoxFuture<'a, Result<(), RelayError>> {
        Box::pin(async move {
            let bytes: Vec<u8> = channels.iter().flat_map(|&ch| command(ch, state)).collect();
            self.send(&bytes).await
        })
    }

    fn read<'a>(
        &'a mut self,
        channels: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<Option<RelayState>>, RelayError>> {
        Box::pin(async move { Ok(vec![None; channels.len()]) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_bytes() {
        assert_eq!(command(1, RelayState::On), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(command(1, RelayState::Off), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(command(2, RelayState::On), [0xA0, 0x02, 0x01, 0xA3]);
        assert_eq!(command(0x70, RelayState::On), [0xA0, 0x70, 0x01, 0x11]);
    }
}
