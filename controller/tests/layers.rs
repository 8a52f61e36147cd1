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
            "state",
            "error",
            "edge",
            "identity",
            "tls",
            "password",
            "hub",
            "outbox",
            "liveness",
            "sequence",
            "lockout",
            "sent",
            "changes",
            "config",
            "live_writes",
            "backup",
            "outcomes",
            "receipt_queue",
        ],
    ),
    // What uses those handles to talk to agents and decide who may do what.
    (
        "agents and access",
        &["agents", "agent_link", "dispatch", "access", "auth"],
    ),
    (
        "domain",
        &[
            "domain",
            "broadcast",
            "broadcast_log",
            "live",
            "alert",
            "areas",
            "cap",
            "cap_senders",
            "programme",
            "scheduler",
            "schedule",
            "media",
            "approval",
            "agent_admin",
            "agent_events",
            "agent_import",
            "agent_history",
            "alarms",
            "alarm_hooks",
            "users",
            "demo",
            "tts",
            "map",
            "calendar",
            "week",
        ],
    ),
    // The folder `src/http/`: the router, server, console, OpenAPI, login, extractors and
    // the audit middleware.
    ("http", &["http"]),
];

/// Each layer's folders under `src/` (the folders show the layers); `clock.rs` is the one
/// module outside a folder.
const FOLDERS: &[(&str, &[&str])] = &[
    ("store", &["storage"]),
    ("state", &["state"]),
    ("agents and access", &["agents", "access"]),
    ("domain", &["domain"]),
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

/// A layer folder's name stands for the module its next path segment names
/// (`crate::domain::broadcast` is `broadcast`); the folder alone is its `mod.rs`.
fn through_folder(rest: &str) -> &str {
    for (_, folders) in FOLDERS {
        for folder in *folders {
            if let Some(inner) = rest.strip_prefix(folder).and_then(|r| r.strip_prefix("::")) {
                let next: String = inner
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if *folder != "http" && layer_of(&next).is_some() {
                    return inner;
                }
            }
        }
    }
    rest
}

/// The crate-level modules a file names: `crate::x` paths and `use crate::{x, y::z}`.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = through_folder(&rest[i + "crate::".len()..]);
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
        if module.starts_with("misplaced ") {
            out.insert(format!(
                "{module}: move it into its layer's folder (FOLDERS)"
            ));
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

/// The controller's modules, each with its text. In a layer folder, `src/f/x.rs` and
/// `src/f/x/…` are module `x` and `src/f/mod.rs` is `f`; `src/http/` and `src/storage/`
/// are one module each; `src/x.rs` is `x`. A module whose folder is not its layer's is
/// reported as `misplaced`.
fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let parts: Vec<String> = path
            .strip_prefix(&src)
            .expect("under src")
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let module = match parts.as_slice() {
            [file] => file.clone(),
            [folder, ..] if folder == "http" || folder == "storage" => folder.clone(),
            [folder, file] if file == "mod" => folder.clone(),
            [_, inner, ..] => inner.clone(),
            [] => continue,
        };
        let text = std::fs::read_to_string(&path).expect("read");
        let folder = (parts.len() > 1).then(|| parts[0].clone());
        let home = layer_of(&module).and_then(|l| {
            FOLDERS
                .iter()
                .find(|(name, _)| *name == LAYERS[l].0)
                .map(|(_, f)| *f)
        });
        let placed = match (&folder, home) {
            (Some(f), Some(home)) => home.contains(&f.as_str()),
            (None, _) => module == "clock" || ROOTS.contains(&module.as_str()),
            (Some(_), None) => true,
        };
        if !placed {
            out.push((format!("misplaced {module}"), String::new()));
        }
        out.push((module, text));
    }
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
        (
            "hub".to_owned(),
            "use crate::domain::live::relay;\nuse crate::state::error::AppError;\n".to_owned(),
        ),
        ("misplaced sent".to_owned(), String::new()),
    ];
    let found: Vec<String> = violations(&files).into_iter().collect();
    assert_eq!(
        found,
        [
            "agent_link (agents and access) uses broadcast (domain)",
            "hub (state) uses live (domain)",
            "misplaced sent: move it into its layer's folder (FOLDERS)",
            "nowhere: not in a layer (add it to LAYERS)",
            "scheduler (domain) uses axum::Json",
            "scheduler (domain) uses axum::extract",
            "scheduler (domain) uses axum::routing",
            "storage (store) uses broadcast (domain)",
            "storage (store) uses http (http)",
        ]
    );
}
