//! # dalaba-agent
//!
//! The daemon on speaker hardware: one outbound connection to the controller, clock sync,
//! media cache, playback engine and arbitration, relay driver, status reports, offline
//! schedule. The only crate that touches hardware.
//!
//! What it is not: it decides what its own speaker plays, never what others play.
//!
//! Status: the daemon connects, enrols, logs in, keeps the clock and verifies commands;
//! playback of stored media and live streams is still to come.

#![forbid(unsafe_code)]

pub mod cache;
pub mod config_store;
pub mod daemon;
pub mod output;
pub mod player;
pub mod relay;
pub mod session;
