//! # dalaba-controller
//!
//! The central service: axum HTTP API and web console, the agents' WebSocket endpoint,
//! storage, scheduler, arbitration mirror, live-stream fan-out, media library, users and
//! audit.
//!
//! What it is not: it never decodes audio on the live path, and never touches speaker
//! hardware.
//!
//! Status: empty. Nothing here is implemented yet (see the controller–agent issue).

#![forbid(unsafe_code)]
