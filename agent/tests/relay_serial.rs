//! The real relay backends over real serial lines: pseudo-terminal pairs with simulated
//! boards on the far end. Checks the exact bytes, read-back, a board that stops answering,
//! a stuck relay, and a port that disappears and comes back.

mod common;

use std::time::Duration;

use common::{Behaviour, Line, ModbusSim, with_crc};
use dalaba_agent::relay::RelayState::{Off, On};
use dalaba_agent::relay::controller::{PowerError, spawn};
use dalaba_agent::relay::lcus::LcusBoard;
use dalaba_agent::relay::modbus::ModbusBoard;
use dalaba_agent::relay::sequencer::Timing;
use dalaba_agent::relay::{RelayBoard, RelayError};

fn instant_timing() -> Timing {
    Timing {
        warm_up: Duration::ZERO,
        hold: Duration::ZERO,
        max_on: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn lcus_bytes_and_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let board = LcusBoard::new(line.path.clone(), 9600);
    let (relay, _task) = spawn(Box::new(board), vec![1, 2], instant_timing());

    relay.status().await.expect("status"); // start-up has run
    assert_eq!(
        line.read_exact(8),
        [0xA0, 1, 0, 0xA1, 0xA0, 2, 0, 0xA2],
        "off at start-up"
    );
    relay.power_on(7).await.expect("powered");
    assert_eq!(line.read_exact(8), [0xA0, 1, 1, 0xA2, 0xA0, 2, 1, 0xA3]);
    relay.release(7).await;
    relay.status().await.expect("status");
    assert_eq!(
        line.read_exact(8),
        [0xA0, 1, 0, 0xA1, 0xA0, 2, 0, 0xA2],
        "off after a zero hold"
    );
    relay.all_off().await;
    assert_eq!(
        line.read_exact(8),
        [0xA0, 1, 0, 0xA1, 0xA0, 2, 0, 0xA2],
        "all off switches off again, to be sure"
    );
    let status = relay.status().await.expect("status");
    assert_eq!(status.board, "lcus");
    assert!(status.fault.is_none(), "{status:?}");
    relay.shutdown().await;
    assert_eq!(
        line.read_exact(8),
        [0xA0, 1, 0, 0xA1, 0xA0, 2, 0, 0xA2],
        "off at shutdown"
    );
    line.assert_quiet();
}

#[tokio::test]
async fn lcus_port_vanishes_and_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let mut board = LcusBoard::new(line.path.clone(), 9600);
    board.switch(&[1], On).await.expect("plugged in");
    assert_eq!(line.read_exact(4), [0xA0, 1, 1, 0xA2]);

    line.unplug();
    let err = board.switch(&[1], Off).await.expect_err("the port is gone");
    assert!(
        matches!(err, RelayError::Io { .. } | RelayError::Open { .. }),
        "{err}"
    );
    let err = board.switch(&[1], Off).await.expect_err("still gone");
    assert!(matches!(err, RelayError::Open { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open relay port {}", line.path.display())),
        "{err}"
    );

    line.plug();
    board
        .switch(&[1], Off)
        .await
        .expect("reopened after replug");
    assert_eq!(line.read_exact(4), [0xA0, 1, 0, 0xA1]);
}

#[tokio::test]
async fn controller_reports_a_vanished_port_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let (relay, _task) = spawn(
        Box::new(LcusBoard::new(line.path.clone(), 9600)),
        vec![1],
        instant_timing(),
    );
    relay.status().await.expect("status");
    line.read_exact(4);

    line.unplug();
    let result = relay.power_on(1).await;
    assert!(
        matches!(&result, Err(PowerError::Fault(f)) if f.contains("relay port")),
        "{result:?}"
    );
    let status = relay.status().await.expect("the controller survives");
    assert!(status.fault.is_some(), "{status:?}");

    line.plug();
    relay.all_off().await; // a fresh attempt, as the periodic retry would make
    assert_eq!(line.read_exact(4), [0xA0, 1, 0, 0xA1]);
    assert_eq!(relay.status().await.expect("status").fault, None);
}

#[tokio::test]
async fn modbus_exact_frames_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let sim = ModbusSim::start(line.master.take().expect("master"), 1);
    let mut board = ModbusBoard::new(line.path.clone(), 9600, 1);

    board.switch(&[1], On).await.expect("switch on");
    assert_eq!(
        sim.take_requests(),
        [
            vec![0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A], // FC05 coil 0 on
            vec![0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0xFD, 0xCA], // FC01 read coil 0
        ]
    );
    board.switch(&[1], Off).await.expect("switch off");
    assert_eq!(
        sim.take_requests()[0],
        [0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA]
    );

    board
        .switch(&[2, 3], On)
        .await
        .expect("two adjacent channels");
    let requests = sim.take_requests();
    assert_eq!(
        requests[0],
        with_crc(vec![0x01, 0x0F, 0x00, 0x01, 0x00, 0x02, 0x01, 0x03]),
        "FC0F"
    );
    assert_eq!(
        requests.len(),
        3,
        "then one read per channel: {requests:02x?}"
    );
    assert_eq!(
        board.read(&[1, 2, 3]).await.expect("read"),
        [Some(Off), Some(On), Some(On)]
    );
    assert_eq!(
        sim.coils.lock().expect("lock")[..4],
        [false, true, true, false]
    );
    sim.stop();
}

#[tokio::test]
async fn modbus_silent_and_stuck_boards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let sim = ModbusSim::start(line.master.take().expect("master"), 5);
    let mut board = ModbusBoard::new(line.path.clone(), 9600, 5);
    board.switch(&[1], On).await.expect("answers");

    sim.set(Behaviour::Silent);
    let err = board.switch(&[1], Off).await.expect_err("no answer");
    assert!(matches!(err, RelayError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("did not answer within 500 ms"),
        "{err}"
    );

    sim.set(Behaviour::Normal);
    board
        .switch(&[1], Off)
        .await
        .expect("answers again (the port was reopened cleanly)");

    sim.set(Behaviour::Stuck(0));
    let err = board.switch(&[1], On).await.expect_err("welded contact");
    assert!(
        matches!(
            err,
            RelayError::Mismatch {
                channel: 1,
                set: On,
                read: Some(Off)
            }
        ),
        "{err}"
    );
    sim.stop();
}

#[tokio::test]
async fn modbus_controller_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut line = Line::new(dir.path());
    let sim = ModbusSim::start(line.master.take().expect("master"), 1);
    let (relay, _task) = spawn(
        Box::new(ModbusBoard::new(line.path.clone(), 9600, 1)),
        vec![1],
        instant_timing(),
    );
    relay.power_on(1).await.expect("powered");
    let status = relay.status().await.expect("status");
    assert_eq!(
        status.channels[0].state,
        Some(On),
        "read back from the board"
    );
    assert!(sim.coils.lock().expect("lock")[0]);
    relay.shutdown().await;
    assert!(!sim.coils.lock().expect("lock")[0], "off at shutdown");
    sim.stop();
}
