//! The HTTP layer: the router and its handlers' HTTP faces, the server around it, the
//! console, the OpenAPI document, logging in, the request extractors and the audit
//! middleware. Nothing below it imports it (ARCHITECTURE.md, Invariants).

pub mod api;
pub mod audit;
pub mod console;
pub mod extract;
pub mod login;
pub mod openapi;
pub mod server;
pub mod settings;
