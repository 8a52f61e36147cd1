//! Receipts as agents send them, queued for one writer (`broadcast::write_receipts`) that
//! records whatever has gathered in one transaction: group commit.
//!
//! Recording each on its agent's session task cost a SQLite commit per receipt (an
//! fsync), one after another on the shared connection: an alert to 2,500 speakers brought
//! 2,500 commits, and the session tasks that also carry live audio waited on them. Now a
//! session task only queues; while one batch commits, the next gathers.

use std::sync::Mutex;

use dalaba_protocol::AgentId;
use tokio::sync::Notify;

use crate::storage::ReceiptRecord;

/// Receipts waiting to be recorded, in the order they came.
#[derive(Debug, Default)]
pub struct ReceiptQueue {
    waiting: Mutex<Vec<(AgentId, ReceiptRecord)>>,
    /// Signalled when one is queued (a permit is kept if the writer is busy).
    pub queued: Notify,
}

impl ReceiptQueue {
    /// Queues `agent`'s receipt. Never blocks on the disk.
    pub fn push(&self, agent: AgentId, receipt: ReceiptRecord) {
        self.lock().push((agent, receipt));
        self.queued.notify_one();
    }

    /// Everything queued so far, oldest first.
    pub fn take(&self) -> Vec<(AgentId, ReceiptRecord)> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(AgentId, ReceiptRecord)>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
