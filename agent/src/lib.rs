//! # dalaba-agent
//!
//! The daemon on speaker hardware: one outbound connection to the controller, clock sync,
//! media cache, playback engine and arbitration, relay driver, status reports, offline
//! schedule. The only crate that touches hardware.
//!
//! What it is not: it decides what its own speaker plays, never what others play.
//!
//! Status: the installer commands (`check-config`, `devices`) exist; the daemon comes with
//! the controller–agent issue.

#![forbid(unsafe_code)]

pub mod cache;
pub mod config_store;
pub mod output;
pub mod relay;
pub mod session;
