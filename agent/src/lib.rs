//! # dalaba-agent
//!
//! The daemon on speaker hardware: one outbound connection to the controller, clock sync,
//! media cache, playback engine and arbitration, relay driver, status reports, offline
//! schedule. The only crate that touches hardware.
//!
//! What it is not: it decides what its own speaker plays, never what others play.
//!
//! Status: the daemon connects, enrols, logs in, keeps the clock, verifies commands,
//! plays stored media and live streams with arbitration, switches relays, applies pushed
//! configurations and keeps an offline schedule.

#![forbid(unsafe_code)]

pub mod cache;
pub mod clock;
pub mod config_store;
pub mod daemon;
pub mod durable;
pub mod enrol;
mod fetch;
pub mod ledger;
pub mod output;
pub mod player;
pub mod relay;
mod runtime;
pub mod schedule;
pub mod self_test;
pub mod session;
mod status;
pub mod tls;
