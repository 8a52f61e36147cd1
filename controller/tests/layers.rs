//! The controller's imports point one way (ARCHITECTURE.md, "Invariants"):
//! HTTP → domain → agents and access → state and errors → store and clock. A module may
//! use its own layer and the layers below; nothing below HTTP uses axum's routing,
//! extractors or responses (the agents' link and the live relay may hold a WebSocket).
//!
//! Both `use crate::…` lines (braced groups too) and inline `crate::x::` paths count, and
//! a module in no layer fails too, so a new file must be placed.

use std::collections::BTreeSet;
use std::path::Path;

/// Each module's layer, lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "store",
        &["storage", "receipt", "role", "broadcast_spec", "clock"],
    ),
    // The composition root and the shared handles it holds: data structures with their
    // own locks (connected agents, last heard, sequence blocks, login failures, what was
    // sent), which know no `AppState`.
    (
        "state",
        &[
            "state", "error", "edge", "identity", "tls", "password", "hub", "liveness", "sequence",
            "lockout", "sent",
        ],
    ),
    // What uses those handles to talk to agents and decide who may do what.
    (
        "agents and access",
        &["agent_link", "dispatch", "access", "auth"],
    ),
    (
        "domain",
        &[
            "broadcast",
            "live",
            "alert",
            "cap",
            "cap_senders",
            "programme",
            "scheduler",
            "schedule",
            "media",
            "approval",
            "agent_admin",
            "agent_events",
            "users",
            "demo",
        ],
    ),
    // The folder `src/http/`: the router, server, console, OpenAPI, login, extractors and
    // the audit middleware.
    ("http", &["http"]),
];

/// Modules that wire everything together and may use anything.
const ROOTS: &[&str] = &["lib", "main"];

/// Modules below HTTP that may hold a WebSocket (`axum::extract::ws`).
const WEBSOCKET_HOLDERS: &[&str] = &["agent_link", "live"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The crate-level modules a file names: `crate::x` paths and `use crate::{x, y::z}`.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // A braced group: the first path segment of each item.
                let inside = group.split('}').next().unwrap_or_default();
                for item in inside.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// The axum items a file uses: `axum::x::…` and `use axum::{x, …}` (first segment).
fn axum_uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("axum::") {
            rest = &rest[i + "axum::".len()..];
            let segment = |s: &str| -> String {
                s.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect::<String>()
                    .trim_end_matches(':')
                    .to_owned()
            };
            if let Some(group) = rest.strip_prefix('{') {
                let inside = group.split('}').next().unwrap_or_default();
                found.extend(inside.split(',').map(segment).filter(|s| !s.is_empty()));
            } else {
                found.insert(segment(rest));
            }
        }
    }
    found
}

/// Every break of the rule in `files` (module name, source text), one line each.
fn violations(files: &[(String, String)]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (module, text) in files {
        if ROOTS.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = layer_of(module) else {
            out.insert(format!("{module}: not in a layer (add it to LAYERS)"));
            continue;
        };
        for used in crate_modules(text) {
            match layer_of(&used) {
                Some(theirs) if theirs > own => {
                    out.insert(format!(
                        "{module} ({}) uses {used} ({})",
                        LAYERS[own].0, LAYERS[theirs].0
                    ));
                }
                _ => {}
            }
        }
        if LAYERS[own].0 != "http" {
            for item in axum_uses(text) {
                let websocket =
                    item.starts_with("extract::ws") && WEBSOCKET_HOLDERS.contains(&module.as_str());
                if !websocket {
                    let first = item.split("::").next().unwrap_or_default();
                    out.insert(format!("{module} ({}) uses axum::{first}", LAYERS[own].0));
                }
            }
        }
    }
    out
}

/// The controller's modules: `src/x.rs` and `src/x/…` are module `x`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, top: Option<&str>, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("src") {
            let path = entry.expect("entry").path();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            if path.is_dir() {
                walk(&path, Some(top.unwrap_or(&name)), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = top.unwrap_or(&name).to_owned();
                out.push((module, std::fs::read_to_string(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut out,
    );
    out
}

#[test]
fn imports_point_down() {
    let found = violations(&sources());
    assert!(
        found.is_empty(),
        "imports against the layers (ARCHITECTURE.md, Invariants); move the code down or \
         the import up:\n{}",
        found
            .iter()
            .map(|s| format!("  {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Code that mounts a route without its documentation: axum's `.route(` or `Router::new()`
/// in the HTTP layer (everything goes through `OpenApiRouter` and `routes!`).
fn undocumented_routes(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (module, text) in files.iter().filter(|(m, _)| m == "http") {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(".route(")
                || code.contains("Router::new()") && !code.contains("OpenApiRouter::new()")
            {
                out.push(format!("{module}, line {}: {}", n + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_mounted_with_its_documentation() {
    let found = undocumented_routes(&sources());
    assert!(
        found.is_empty(),
        "mount routes with `OpenApiRouter::routes(routes!(handler))` so they are documented:\n{}",
        found.join("\n")
    );
    let caught = undocumented_routes(&[(
        "http".to_owned(),
        "let r = Router::new().route(\"/x\", get(x));\nOpenApiRouter::new().routes(routes!(y));\n"
            .to_owned(),
    )]);
    assert_eq!(caught.len(), 1, "{caught:?}");
}

#[test]
fn an_upward_import_is_caught_in_every_form() {
    let files = vec![
        (
            "storage".to_owned(),
            "use crate::receipt::ReceiptRecord;\n\
             use crate::{clock, broadcast::Active};\n\
             fn f() { crate::http::api::router(todo!()); } // crate::media in a comment\n"
                .to_owned(),
        ),
        (
            "scheduler".to_owned(),
            "use axum::extract::State;\nuse axum::{Json, routing::get};\n".to_owned(),
        ),
        (
            "agent_link".to_owned(),
            "use axum::extract::ws::{Message, WebSocket};\nuse crate::broadcast;\n".to_owned(),
        ),
        ("nowhere".to_owned(), String::new()),
    ];
    let found: Vec<String> = violations(&files).into_iter().collect();
    assert_eq!(
        found,
        [
            "agent_link (agents and access) uses broadcast (domain)",
            "nowhere: not in a layer (add it to LAYERS)",
            "scheduler (domain) uses axum::Json",
            "scheduler (domain) uses axum::extract",
            "scheduler (domain) uses axum::routing",
            "storage (store) uses broadcast (domain)",
            "storage (store) uses http (http)",
        ]
    );
}
