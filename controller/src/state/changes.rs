//! What the operators' pages show has changed: an agent came or went, reported its
//! status, or a receipt arrived. A counter that only goes up; the live-status stream
//! (`GET /api/events`) waits on it, so pages hear of a change as it happens instead of
//! polling.

use tokio::sync::watch;

/// The change counter.
#[derive(Debug)]
pub struct Changes {
    tx: watch::Sender<u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(0),
        }
    }
}

impl Changes {
    /// Something changed.
    pub fn bump(&self) {
        self.tx.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees every later change (several close together as one).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subscriber_hears_a_change_made_before_it_waited() {
        let changes = Changes::default();
        let mut rx = changes.subscribe();
        changes.bump();
        changes.bump();
        rx.changed().await.expect("changed");
        assert_eq!(*rx.borrow_and_update(), 2);
        assert!(!rx.has_changed().expect("open"), "both seen at once");
    }
}
