//! Simulated relay boards on the far end of pseudo-terminal pairs.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort as _, TTYPort};

pub mod fake_controller;

/// A serial line: the agent opens `path` (a symlink to the pty's slave side); the test
/// holds the master side. "Unplugging" closes the pty; "replugging" makes a new one and
/// points the symlink at it, as udev keeps `/dev/ttyUSB0` stable.
pub struct Line {
    pub path: PathBuf,
    pub master: Option<TTYPort>,
    slave: Option<TTYPort>,
}

impl Line {
    pub fn new(dir: &Path) -> Self {
        let mut line = Self {
            path: dir.join("ttyRELAY"),
            master: None,
            slave: None,
        };
        line.plug();
        line
    }

    /// Makes a new pty and points the symlink at it.
    pub fn plug(&mut self) {
        let (mut master, slave) = TTYPort::pair().expect("pty pair");
        master
            .set_timeout(Duration::from_millis(50))
            .expect("timeout");
        let target = slave.name().expect("slave name");
        let tmp = self.path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).expect("symlink");
        std::fs::rename(&tmp, &self.path).expect("rename symlink");
        self.master = Some(master);
        // Keep the slave open here too, so the master never sees a hang-up between the
        // agent's reopenings.
        self.slave = Some(slave);
    }

    /// Closes the pty: the agent's port vanishes.
    pub fn unplug(&mut self) {
        self.master = None;
        self.slave = None;
    }

    /// Reads exactly `n` bytes the agent wrote (fails after 2 s without them).
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let master = self.master.as_mut().expect("plugged");
        let mut buf = vec![0u8; n];
        let mut got = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while got < n {
            match master.read(&mut buf[got..]) {
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "only {got} of {n} bytes arrived: {:02x?}",
                        &buf[..got]
                    );
                }
                Err(e) => panic!("reading the master: {e}"),
            }
        }
        buf
    }

    /// Asserts nothing more was written.
    pub fn assert_quiet(&mut self) {
        let master = self.master.as_mut().expect("plugged");
        let mut buf = [0u8; 64];
        match master.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Ok(n) => panic!("unexpected bytes: {:02x?}", &buf[..n]),
            Err(e) => panic!("reading the master: {e}"),
        }
    }
}

/// CRC-16/MODBUS, appended low byte first.
pub fn crc16(data: &[u8]) -> [u8; 2] {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc.to_le_bytes()
}

pub fn with_crc(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc);
    frame
}

/// How the simulated Modbus board behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Does what it is told.
    Normal,
    /// Reads requests but never answers (power loss on the board's logic, broken RS-485).
    Silent,
    /// Answers, but coil `n` never changes (a welded relay contact).
    Stuck(u16),
}

/// A Modbus RTU coil board (unit id `unit`) answering on a pty master, in a thread.
pub struct ModbusSim {
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub coils: Arc<Mutex<[bool; 64]>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<TTYPort>>,
}

impl ModbusSim {
    pub fn start(master: TTYPort, unit: u8) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let coils = Arc::new(Mutex::new([false; 64]));
        let behaviour = Arc::new(Mutex::new(Behaviour::Normal));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, coils, behaviour, stop) = (
                Arc::clone(&requests),
                Arc::clone(&coils),
                Arc::clone(&behaviour),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || serve(master, unit, &requests, &coils, &behaviour, &stop))
        };
        Self {
            requests,
            coils,
            behaviour,
            stop,
            thread: Some(thread),
        }
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().expect("lock") = b;
    }

    pub fn take_requests(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.requests.lock().expect("lock"))
    }

    /// Stops the thread and gives the master back.
    pub fn stop(mut self) -> TTYPort {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("sim thread")
    }
}

fn read_n(port: &mut TTYPort, buf: &mut Vec<u8>, n: usize, stop: &AtomicBool) -> bool {
    while buf.len() < n {
        let mut b = [0u8; 256];
        match port.read(&mut b[..n - buf.len()]) {
            Ok(k) => buf.extend_from_slice(&b[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

fn serve(
    mut port: TTYPort,
    unit: u8,
    requests: &Mutex<Vec<Vec<u8>>>,
    coils: &Mutex<[bool; 64]>,
    behaviour: &Mutex<Behaviour>,
    stop: &AtomicBool,
) -> TTYPort {
    loop {
        let mut frame = Vec::new();
        if !read_n(&mut port, &mut frame, 2, stop) {
            return port;
        }
        let len = match frame[1] {
            0x01 | 0x05 => 8,
            0x0F => {
                if !read_n(&mut port, &mut frame, 7, stop) {
                    return port;
                }
                9 + usize::from(frame[6])
            }
            other => panic!("the agent sent unexpected function code {other:#04x}: {frame:02x?}"),
        };
        if !read_n(&mut port, &mut frame, len, stop) {
            return port;
        }
        requests.lock().expect("lock").push(frame.clone());
        assert_eq!(
            crc16(&frame[..len - 2]),
            [frame[len - 2], frame[len - 1]],
            "request CRC"
        );
        assert_eq!(frame[0], unit, "unit id");
        let b = *behaviour.lock().expect("lock");
        if b == Behaviour::Silent {
            continue;
        }
        let addr = u16::from_be_bytes([frame[2], frame[3]]);
        let mut c = coils.lock().expect("lock");
        let set = |c: &mut [bool; 64], coil: u16, v: bool| {
            if b != Behaviour::Stuck(coil) {
                c[usize::from(coil)] = v;
            }
        };
        let reply = match frame[1] {
            0x05 => {
                set(&mut c, addr, frame[4] == 0xFF);
                frame[..6].to_vec()
            }
            0x0F => {
                let qty = u16::from_be_bytes([frame[4], frame[5]]);
                for i in 0..qty {
                    let bit = frame[7 + usize::from(i / 8)] >> (i % 8) & 1 == 1;
                    set(&mut c, addr + i, bit);
                }
                frame[..6].to_vec()
            }
            _ => {
                let qty = u16::from_be_bytes([frame[4], frame[5]]);
                let mut bytes = vec![0u8; usize::from(qty).div_ceil(8)];
                for i in 0..qty {
                    if c[usize::from(addr + i)] {
                        bytes[usize::from(i / 8)] |= 1 << (i % 8);
                    }
                }
                let mut r = vec![unit, 0x01, bytes.len() as u8];
                r.extend(bytes);
                r
            }
        };
        drop(c);
        port.write_all(&with_crc(reply)).expect("reply");
    }
}
