//! The client's side of WebSocket framing (RFC 6455 5.2), enough for the agent protocol:
//! whole messages, no extensions.

use std::io::Write as _;
use std::ops::Range;

pub(super) const TEXT: u8 = 0x1;
pub(super) const BINARY: u8 = 0x2;
pub(super) const CLOSE: u8 = 0x8;
pub(super) const PING: u8 = 0x9;
pub(super) const PONG: u8 = 0xA;

/// A frame at the start of a buffer.
pub(super) struct Frame {
    pub(super) opcode: u8,
    /// Where its payload is in the buffer.
    pub(super) payload: Range<usize>,
    /// Its length with its header.
    pub(super) len: usize,
}

/// The frame at the start of `buf`; `None` until all of it is there.
pub(super) fn parse(buf: &[u8]) -> Result<Option<Frame>, &'static str> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x80 == 0 || b0 & 0x0f == 0 {
        return Err("WebSocket: a fragmented message (the controller sends whole ones)");
    }
    if b1 & 0x80 != 0 {
        return Err("WebSocket: a masked frame from the server");
    }
    let (len, head) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (
                usize::try_from(u64::from_be_bytes(n)).map_err(|_| "WebSocket: huge frame")?,
                10,
            )
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    if buf.len() < head + len {
        return Ok(None);
    }
    Ok(Some(Frame {
        opcode: b0 & 0x0f,
        payload: head..head + len,
        len: head + len,
    }))
}

/// Queues `payload` as one masked frame (one TLS record).
pub(super) fn send(tls: &mut rustls::ClientConnection, opcode: u8, payload: &[u8]) {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask: [u8; 4] = rand::random();
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    // rustls buffers it (unbounded by default); it leaves at the next write.
    let _ = tls.writer().write_all(&frame);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_whole_or_not_at_all() {
        let mut buf = vec![0x82, 126, 0x01, 0x00];
        buf.extend(std::iter::repeat_n(7u8, 256));
        buf.extend([0x81, 2, b'h', b'i']);
        let f = parse(&buf).unwrap().unwrap();
        assert_eq!((f.opcode, f.payload.clone(), f.len), (BINARY, 4..260, 260));
        let g = parse(&buf[f.len..]).unwrap().unwrap();
        assert_eq!(&buf[f.len..][g.payload], b"hi");
        assert!(parse(&buf[..259]).unwrap().is_none());
        assert!(parse(&buf[..3]).unwrap().is_none());
        assert!(parse(&[0x02, 1, 0]).is_err(), "a fragment");
        assert!(parse(&[0x82, 0x81, 0, 0, 0, 0, 0]).is_err(), "masked");
    }
}
