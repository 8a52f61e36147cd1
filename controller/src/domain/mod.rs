//! The domain: what the controller does, in the terms of the people who use it:
//! broadcasts, live calls, alerts and CAP, the daily programme and its scheduler, the
//! media library, agents' administration, approvals and accounts. It uses the agents'
//! link, access control, the state and the store below it, and nothing of HTTP
//! (ARCHITECTURE.md, Invariants). The crate root re-exports each module.

pub mod agent_admin;
pub mod agent_events;
pub mod agent_history;
pub mod agent_import;
pub mod alarm_hooks;
pub mod alarms;
pub mod alert;
pub mod approval;
pub mod areas;
pub mod broadcast;
pub mod broadcast_log;
pub mod calendar;
pub mod cap;
pub mod cap_senders;
pub mod demo;
pub mod live;
pub mod map;
pub mod media;
pub mod programme;
pub mod schedule;
pub mod scheduler;
pub mod tts;
pub mod users;
pub mod week;
