//! The relay controller's timing, with tokio's clock paused and moved by hand: every
//! switch is recorded by a fake board with the (virtual) time it happened.

use std::time::Duration;

use dalaba_agent::relay::RelayState::{Off, On};
use dalaba_agent::relay::controller::{PowerError, spawn};
use dalaba_agent::relay::fake::FakeBoard;
use dalaba_agent::relay::sequencer::Timing;
use tokio::time::{Instant, advance};

const MS: Duration = Duration::from_millis(1);

fn timing() -> Timing {
    Timing {
        warm_up: 2000 * MS,
        hold: 5000 * MS,
        max_on: Duration::from_secs(600),
    }
}

/// The switch log as (ms since `t0`, state).
fn timeline(
    log: &dalaba_agent::relay::fake::SwitchLog,
    t0: Instant,
) -> Vec<(u128, dalaba_agent::relay::RelayState)> {
    log.lock()
        .expect("log")
        .iter()
        .map(|(t, channels, s)| {
            assert_eq!(channels, &[1, 2], "every configured channel is switched");
            (t.duration_since(t0).as_millis(), *s)
        })
        .collect()
}

/// Lets the relay task run everything that is ready, without moving the clock.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn off_at_start_on_warm_up_hold_off() {
    let t0 = Instant::now();
    let (board, log) = FakeBoard::new();
    let (relay, _task) = spawn(Box::new(board), vec![1, 2], timing());

    let power = tokio::spawn({
        let relay = relay.clone();
        async move {
            relay.power_on(1).await.expect("powered");
            Instant::now()
        }
    });
    let ready_at = power.await.expect("task");
    assert_eq!(
        ready_at.duration_since(t0),
        2000 * MS,
        "audio may start after the warm-up"
    );

    advance(10_000 * MS).await; // the broadcast plays for 10 s
    relay.release(1).await;
    settle().await;
    advance(4999 * MS).await;
    settle().await;
    assert_eq!(timeline(&log, t0), [(0, Off), (0, On)], "still holding");
    advance(MS).await;
    settle().await;
    assert_eq!(timeline(&log, t0), [(0, Off), (0, On), (17_000, Off)]);
}

#[tokio::test(start_paused = true)]
async fn overlapping_broadcasts_do_not_click() {
    let t0 = Instant::now();
    let (board, log) = FakeBoard::new();
    let (relay, _task) = spawn(Box::new(board), vec![1, 2], timing());
    relay.power_on(1).await.expect("powered");
    advance(1000 * MS).await;
    relay.power_on(2).await.expect("already on: no wait");
    assert_eq!(Instant::now().duration_since(t0), 3000 * MS);
    relay.release(1).await;
    advance(3000 * MS).await;
    relay.release(2).await;
    settle().await;
    advance(2000 * MS).await;
    // A third broadcast inside the hold keeps the amplifier on.
    relay.power_on(3).await.expect("no warm-up needed");
    assert_eq!(Instant::now().duration_since(t0), 8000 * MS);
    relay.release(3).await;
    settle().await;
    advance(5000 * MS).await;
    settle().await;
    assert_eq!(timeline(&log, t0), [(0, Off), (0, On), (13_000, Off)]);
}

#[tokio::test(start_paused = true)]
async fn watchdog_switches_off_a_forgotten_relay() {
    let t0 = Instant::now();
    let (board, log) = FakeBoard::new();
    let (relay, _task) = spawn(Box::new(board), vec![1, 2], timing());
    relay.power_on(1).await.expect("powered");
    // Nobody releases lease 1. (power_on returned after the 2 s warm-up.)
    advance(Duration::from_secs(598)).await;
    settle().await;
    assert_eq!(timeline(&log, t0), [(0, Off), (0, On), (600_000, Off)]);
    let status = relay.status().await.expect("status");
    assert_eq!(status.watchdog_trips, 1);
    assert!(
        status
            .fault
            .as_deref()
            .is_some_and(|f| f.contains("watchdog")),
        "{status:?}"
    );
    assert_eq!(status.wanted, Off);
}

#[tokio::test(start_paused = true)]
async fn all_off_and_shutdown_switch_off_at_once() {
    let t0 = Instant::now();
    let (board, log) = FakeBoard::new();
    let (relay, task) = spawn(Box::new(board), vec![1, 2], timing());
    let waiting = tokio::spawn({
        let relay = relay.clone();
        async move { relay.power_on(1).await }
    });
    settle().await;
    advance(500 * MS).await;
    relay.all_off().await;
    assert_eq!(
        waiting.await.expect("task"),
        Err(PowerError::Cancelled),
        "a warm-up in progress is cancelled"
    );
    relay.power_on(2).await.expect("powered again");
    relay.shutdown().await;
    task.await.expect("task ends after shutdown");
    assert_eq!(
        timeline(&log, t0),
        [(0, Off), (0, On), (500, Off), (500, On), (2500, Off)],
        "shutdown switches off even while a lease is held"
    );
    assert_eq!(relay.power_on(3).await, Err(PowerError::Stopped));
}

#[tokio::test(start_paused = true)]
async fn a_failing_board_is_reported_and_retried() {
    let t0 = Instant::now();
    let (board, log) = FakeBoard::new();
    let failures = board.failures();
    let (relay, _task) = spawn(Box::new(board), vec![1, 2], timing());
    settle().await;
    *failures.lock().expect("lock") = 3; // the next three switches fail
    let result = tokio::spawn({
        let relay = relay.clone();
        async move { relay.power_on(1).await }
    });
    settle().await;
    let status = relay.status().await.expect("status");
    assert_eq!(status.fault.as_deref(), Some("injected board failure"));
    assert_eq!(
        status.channels[0].state,
        Some(Off),
        "the board reads back what it really is"
    );
    // Warm-up ends while the board still fails (retries at 1 s and 2 s): the user
    // learns why. The clock moves a second at a time, as it would for real.
    for _ in 0..2 {
        advance(1000 * MS).await;
        settle().await;
    }
    assert_eq!(
        result.await.expect("task"),
        Err(PowerError::Fault("injected board failure".into()))
    );
    // Retries every second; the third failure (at 2 s) is the last.
    settle().await;
    advance(1000 * MS).await;
    settle().await;
    let status = relay.status().await.expect("status");
    assert!(status.fault.is_none(), "recovered: {status:?}");
    assert_eq!(status.channels[0].state, Some(On));
    assert_eq!(timeline(&log, t0), [(0, Off), (3000, On)]);
}
