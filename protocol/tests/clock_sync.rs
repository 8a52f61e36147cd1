//! The clock-sync estimator against a simulated network: jittery symmetric paths plus a
//! minority of badly asymmetric exchanges (a queue on one direction only).

use dalaba_protocol::clock::{ClockSync, ClockSyncConfig, MIN_DRIFT_SPAN_US};
use dalaba_protocol::control::Pong;
use proptest::prelude::*;

proptest! {
    #[test]
    fn estimate_is_within_half_the_jitter_despite_outliers(
        offset in -1_000_000_000_000i64..1_000_000_000_000,
        base in 100u64..50_000,
        jitter in 0u64..5_000,
        // (up jitter, down jitter, is outlier, outlier queue) per exchange
        path in proptest::collection::vec((0.0f64..1.0, 0.0f64..1.0, 0u8..3, 20_000u64..2_000_000), 16),
    ) {
        let config = ClockSyncConfig::default();
        let mut sync = ClockSync::new(config);
        let mut agent_now: u64 = 2_000_000_000_000_000;
        let first_ping = agent_now;
        for (i, &(ju, jd, kind, queue)) in path.iter().enumerate() {
            // Up to half the exchanges are outliers, all skewed the same way: a plain
            // median of every sample would follow them; the delay filter must not.
            let outlier = kind != 0 && i % 2 == 1;
            let ping = sync.poll_ping(agent_now).expect("a ping is due");
            let up = base + (ju * jitter as f64) as u64;
            let mut down = base + (jd * jitter as f64) as u64;
            if outlier {
                down += 2 * jitter + queue;
            }
            let t2 = (ping.t1 + up).checked_add_signed(offset).expect("no overflow");
            let t3 = t2 + 30;
            let t4 = ping.t1 + up + 30 + down;
            sync.handle_pong(&Pong { id: ping.id, t1: ping.t1, t2, t3 }, t4).expect("valid exchange");
            agent_now = sync.poll_timeout().max(t4);
        }
        let est = sync.estimate().expect("has samples");
        let error = (est.offset_us - offset).unsigned_abs();
        // Each kept exchange's offset is off by at most half the jitter. The drift fit adds
        // a slope error of at most jitter / MIN_DRIFT_SPAN (pairs are at least that far
        // apart), carried over at most the span of the exchanges.
        let span = agent_now - first_ping;
        let bound = jitter / 2 + jitter * span / MIN_DRIFT_SPAN_US + 1;
        prop_assert!(error <= bound, "error {error}µs with jitter {jitter}µs over {span}µs");
        if span < MIN_DRIFT_SPAN_US {
            prop_assert!(error <= jitter / 2 + 1, "error {error}µs with jitter {jitter}µs");
        }
        prop_assert!(est.min_delay_us >= (2 * base) as i64);
    }
}

#[test]
fn conversion_between_clocks() {
    let mut sync = ClockSync::default();
    sync.handle_exchange(dalaba_protocol::clock::Exchange {
        t1: 1_000,
        t2: 501_000,
        t3: 501_000,
        t4: 1_000,
    })
    .expect("zero-delay exchange");
    let est = sync.estimate().expect("one sample");
    assert_eq!(est.offset_us, 500_000);
    assert_eq!(est.to_controller_time(2_000).0, 502_000);
    assert_eq!(
        est.to_agent_time(dalaba_protocol::Timestamp(502_000)),
        2_000
    );
}
