//! How each speaker's last broadcast ended, played or failed, as its receipts arrived
//! since this controller started: the condition of the `broadcast_failed` alarm. In
//! memory: the alarm itself is stored, and one raised before a restart stays until the
//! speaker's next broadcast ends.

use std::collections::HashMap;
use std::sync::Mutex;

/// Each speaker's last ending: `None` played to the end, `Some(why)` failed.
#[derive(Debug, Default)]
pub struct Outcomes {
    last: Mutex<HashMap<String, Option<String>>>,
}

impl Outcomes {
    /// A broadcast ended on `agent`: played (`failure` `None`) or failed, and why.
    pub fn ended(&self, agent: &str, failure: Option<String>) {
        self.lock().insert(agent.to_owned(), failure);
    }

    /// How `agent`'s last broadcast ended, if one has since the controller started.
    pub fn last(&self, agent: &str) -> Option<Option<String>> {
        self.lock().get(agent).cloned()
    }

    /// The speakers whose last broadcast failed, and why.
    pub fn failing(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .filter_map(|(agent, why)| Some((agent.clone(), why.clone()?)))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
