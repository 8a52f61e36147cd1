//! A webhook receiver on loopback, for the alarms' tests.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Instant;

use serde_json::Value;

use super::WAIT;

/// A webhook receiver on loopback: every request's path (with query) and JSON body, in
/// order. The first request to `/flaky…` is answered 500; the rest `{"errcode":0}`.
pub fn receiver() -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut failed_once = false;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let fail = path.starts_with("/flaky") && !failed_once;
            failed_once |= fail;
            let answer = if fail {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            } else {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\nconnection: close\r\n\r\n{\"errcode\":0}".to_owned()
            };
            let _ = reader.get_mut().write_all(answer.as_bytes());
            let _ = tx.send((path, serde_json::from_slice(&body).unwrap_or(Value::Null)));
        }
    });
    (
        addr,
        Calls {
            rx,
            held: Vec::new(),
        },
    )
}

/// What the receiver got, in order.
pub struct Calls {
    rx: mpsc::Receiver<(String, Value)>,
    /// Calls received but not yet asked for.
    held: Vec<(String, Value)>,
}

impl Calls {
    /// The next request whose path starts with `prefix` (others are kept for later).
    pub fn next(&mut self, prefix: &str) -> (String, Value) {
        if let Some(i) = self.held.iter().position(|(p, _)| p.starts_with(prefix)) {
            return self.held.remove(i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((path, body)) if path.starts_with(prefix) => return (path, body),
                Ok(other) => self.held.push(other),
                Err(e) => panic!("no webhook call to {prefix} ({e})"),
            }
        }
    }
}
