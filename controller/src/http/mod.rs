//! The HTTP layer: the router and its handlers' HTTP faces, the server around it, the
//! console, the OpenAPI document, logging in, the request extractors and the audit
//! middleware. Nothing below it imports it (ARCHITECTURE.md, Invariants).

pub mod agents;
pub mod alarms;
pub mod alerts;
pub mod api;
pub mod areas;
pub mod audit;
pub mod broadcasts;
pub mod cap;
pub mod console;
pub mod csv;
pub mod events;
pub mod extract;
pub mod live;
pub mod login;
pub mod media;
pub mod openapi;
pub mod programme;
pub mod server;
pub mod settings;
pub mod tts;
pub mod users;
