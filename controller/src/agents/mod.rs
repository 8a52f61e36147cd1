//! The agents' side: one task per agent connection (`agent_link`) and the one way
//! commands reach speakers (`dispatch`). The crate root re-exports each module.

pub mod agent_link;
pub mod dispatch;
