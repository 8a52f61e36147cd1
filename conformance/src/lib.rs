//! # dalaba-conformance
//!
//! Checks an implementation of the Dalaba protocol against the numbered MUST rules of
//! PROTOCOL.md section 14, and prints one row per rule: `pass`, `FAIL` with what it saw,
//! or `not checked`.
//!
//! Against an agent ([`agent_checks::check_agent`]) it plays the controller: it writes the
//! agent a configuration, starts it from the command line it is given, and restarts it
//! where a rule needs it (no replay after a restart, sequence numbers kept). Only what
//! crosses the wire is judged, so any vendor's agent can be checked.
//!
//! Against a controller ([`controller_checks::check_controller`]) it plays an agent on the
//! agents' listener and drives the controller through Dalaba's operator API.

#![forbid(unsafe_code)]

pub mod agent_checks;
pub mod controller_checks;
pub mod fake_controller;
mod harness;
pub mod report;
pub mod rules;
pub mod tls_pin;
