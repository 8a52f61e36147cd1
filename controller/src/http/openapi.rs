//! The OpenAPI 3.1 document served at `/api/openapi.json`. Kept beside the router; a test
//! checks that every route is documented.

use serde_json::{Value, json};

fn error_response() -> Value {
    json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}])
}

/// Playlists, schedules, quiet hours, alerts and CAP.
fn programme_paths(secured: &Value) -> Value {
    let target = json!({"type": "object", "properties": {"agents": {"type": "array", "items": {"type": "string"}}, "areas": {"type": "array", "items": {"type": "string"}}, "groups": {"type": "array", "items": {"type": "string"}}, "all": {"type": "boolean"}}});
    let playlist = json!({"type": "object", "required": ["name", "items"], "properties": {
        "name": {"type": "string"}, "jingle_media_id": {"type": "integer"},
        "items": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "object", "required": ["media_id"], "properties": {
            "media_id": {"type": "integer"}, "repeat": {"type": "integer", "minimum": 1, "maximum": 20}, "gap_ms": {"type": "integer", "maximum": 600000}}}}}});
    let schedule = json!({"type": "object", "required": ["name", "cron", "target", "playlist_id"], "properties": {
        "name": {"type": "string"},
        "cron": {"type": "string", "description": "five fields: minute hour day-of-month month day-of-week (Sunday 0 or 7), in time_zone"},
        "time_zone": {"type": "string", "default": "Asia/Shanghai"},
        "weekdays": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
        "from": {"type": "string", "format": "date"}, "until": {"type": "string", "format": "date"},
        "target": target, "playlist_id": {"type": "integer"},
        "priority": {"type": "string", "enum": ["scheduled", "background"]},
        "volume": {"type": "integer", "minimum": 0, "maximum": 100},
        "on_preempt": {"type": "string", "enum": ["resume", "restart", "skip"]},
        "window_min": {"type": "integer", "default": 30, "description": "how long after its planned end an interrupted or delayed item may still play"},
        "enabled": {"type": "boolean", "default": true}}});
    let quiet = json!({"type": "array", "items": {"type": "object", "required": ["area", "start", "end"], "properties": {
        "area": {"type": "string", "description": "area-code prefix; the longest match wins"},
        "start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, "end": {"type": "string"},
        "time_zone": {"type": "string", "default": "Asia/Shanghai"}}}});
    let alert = json!({"type": "object", "required": ["severity", "event", "areas", "expires_at", "mode"], "properties": {
        "severity": {"type": "string", "enum": ["red", "orange", "yellow", "blue"]},
        "event": {"type": "string"}, "areas": {"type": "array", "items": {"type": "string"}},
        "starts_at": {"type": "integer", "description": "µs since the epoch"}, "expires_at": {"type": "integer"},
        "text": {"type": "string"}, "media_id": {"type": "integer"},
        "repeat": {"type": "integer", "minimum": 1, "maximum": 10},
        "mode": {"type": "string", "enum": ["real", "test", "drill"]},
        "confirm_real": {"type": "boolean", "description": "required (true) for mode real"}}});
    let body = |schema: &Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    json!({
        "/api/playlists": {
            "get": {"summary": "Every playlist", "security": secured, "responses": {"200": {"description": "playlists"}, "401": error_response()}},
            "post": {"summary": "Create a playlist", "security": secured, "requestBody": body(&playlist),
                "responses": {"201": {"description": "created"}, "400": error_response(), "401": error_response()}}},
        "/api/playlists/{id}": {"parameters": id_param(),
            "get": {"summary": "One playlist", "security": secured, "responses": {"200": {"description": "playlist"}, "404": error_response()}},
            "put": {"summary": "Replace a playlist; schedules that play it are planned anew", "security": secured, "requestBody": body(&playlist),
                "responses": {"200": {"description": "replaced"}, "400": error_response(), "404": error_response()}},
            "delete": {"summary": "Delete a playlist (refused while a schedule plays it)", "security": secured,
                "responses": {"204": {"description": "deleted"}, "404": error_response(), "409": error_response()}}},
        "/api/schedules": {
            "get": {"summary": "Every schedule with its next three start times", "security": secured, "responses": {"200": {"description": "schedules"}, "401": error_response()}},
            "post": {"summary": "Create a schedule", "security": secured, "requestBody": body(&schedule),
                "responses": {"201": {"description": "created, with next_runs"}, "400": error_response(), "401": error_response()}}},
        "/api/schedules/{id}": {"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}, {"name": "next", "in": "query", "schema": {"type": "integer", "maximum": 100}}],
            "get": {"summary": "One schedule, its next start times (`?next=N`) and its runs (past week and day ahead)", "security": secured, "responses": {"200": {"description": "schedule"}, "404": error_response()}},
            "put": {"summary": "Replace a schedule; starts not yet begun are planned anew", "security": secured, "requestBody": body(&schedule),
                "responses": {"200": {"description": "replaced"}, "400": error_response(), "404": error_response()}},
            "delete": {"summary": "Delete a schedule; its starts not yet begun are withdrawn from the agents", "security": secured,
                "responses": {"204": {"description": "deleted"}, "404": error_response()}}},
        "/api/quiet-hours": {
            "get": {"summary": "Quiet-hours rules per area", "security": secured, "responses": {"200": {"description": "rules"}}},
            "put": {"summary": "Replace every quiet-hours rule; schedules are planned anew", "security": secured, "requestBody": body(&quiet),
                "responses": {"200": {"description": "rules"}, "400": error_response()}}},
        "/api/alerts": {
            "get": {"summary": "Every alert, newest first", "security": secured, "responses": {"200": {"description": "alerts"}}},
            "post": {"summary": "Issue an emergency alert now", "security": secured, "requestBody": body(&alert),
                "responses": {"201": {"description": "sent"}, "400": error_response(), "401": error_response()}}},
        "/api/alerts/cap": {"post": {"summary": "Import a CAP 1.2 message (held for review or sent, per DALABA_CAP_POLICY)", "security": secured,
            "parameters": [{"name": "X-Dalaba-Signature", "in": "header", "schema": {"type": "string"}, "description": "base64 Ed25519 signature over the exact body by a trusted sender"}],
            "requestBody": {"required": true, "content": {"application/xml": {"schema": {"type": "string"}}}},
            "responses": {"201": {"description": "held, sent or cancelled"}, "400": error_response(), "403": error_response(), "409": error_response()}}},
        "/api/alerts/{id}": {"parameters": id_param(),
            "get": {"summary": "One alert", "security": secured, "responses": {"200": {"description": "alert"}, "404": error_response()}}},
        "/api/alerts/{id}/cancel": {"parameters": id_param(),
            "post": {"summary": "Cancel an alert everywhere (its issuer or an admin)", "security": secured,
                "responses": {"200": {"description": "cancelled"}, "403": error_response(), "404": error_response()}}},
        "/api/alerts/{id}/approve": {"parameters": id_param(),
            "post": {"summary": "Send an alert held for review", "security": secured,
                "responses": {"200": {"description": "sent"}, "400": error_response(), "409": error_response()}}},
        "/api/broadcasts/{id}/approve": {"parameters": id_param(),
            "post": {"summary": "Send a broadcast held by the approval rule (a second authorised user, not its author)", "security": secured,
                "responses": {"200": {"description": "sent"}, "403": error_response(), "409": error_response()}}},
        "/api/schedules/{id}/approve": {"parameters": id_param(),
            "post": {"summary": "Let a schedule held by the approval rule run (a second authorised user)", "security": secured,
                "responses": {"200": {"description": "approved"}, "403": error_response(), "409": error_response()}}},
        "/api/settings/cap-senders": {
            "get": {"summary": "The CAP senders: each feed's keys and areas (admins)", "security": secured, "responses": {"200": {"description": "senders"}, "403": error_response()}},
            "put": {"summary": "Replace the CAP senders (admins); a CAP message is accepted only as a configured sender, inside its areas", "security": secured,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object", "required": ["sender", "areas"], "properties": {
                    "sender": {"type": "string", "description": "the <sender> it writes"}, "name": {"type": "string"},
                    "keys": {"type": "array", "items": {"type": "string", "description": "base64 Ed25519 public key"}},
                    "areas": {"type": "array", "items": {"type": "string", "description": "area-code prefix, 2 to 12 digits"}}}}}}}},
                "responses": {"200": {"description": "set"}, "400": error_response(), "403": error_response()}}},
        "/api/settings/approval": {
            "get": {"summary": "The approval rule", "security": secured, "responses": {"200": {"description": "rule"}}},
            "put": {"summary": "Set the approval rule (admins)", "security": secured,
                "requestBody": body(&json!({"type": "object", "properties": {
                    "all_targets": {"type": "boolean"}, "max_prefix_digits": {"type": "integer", "maximum": 12},
                    "min_speakers": {"type": "integer"}, "quiet_hours": {"type": "boolean"}}})),
                "responses": {"200": {"description": "rule"}, "403": error_response()}}},
        "/api/me": {"get": {"summary": "The session's user: name, role, scopes", "security": secured, "responses": {"200": {"description": "user"}, "401": error_response()}}},
        "/api/users": {
            "get": {"summary": "Every user (admins)", "security": secured, "responses": {"200": {"description": "users"}, "403": error_response()}},
            "post": {"summary": "Create a user (admins); without a password one is generated and returned once", "security": secured,
                "requestBody": body(&json!({"type": "object", "required": ["name", "role"], "properties": {
                    "name": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "operator", "village_head", "viewer"]},
                    "scopes": {"type": "array", "items": {"type": "string"}, "description": "area-code prefixes; an operator needs one or more, a village head exactly one 12-digit village"},
                    "password": {"type": "string", "minLength": 12}}})),
                "responses": {"201": {"description": "created"}, "400": error_response(), "403": error_response(), "409": error_response()}}},
        "/api/users/{id}": {"parameters": id_param(),
            "patch": {"summary": "Change a user's role, scopes or password, or disable them (admins; sessions end)", "security": secured,
                "responses": {"200": {"description": "changed"}, "400": error_response(), "403": error_response(), "409": error_response()}}},
        "/api/audit": {"get": {"summary": "The audit log, newest first (admins); `?format=csv` to export", "security": secured,
            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}, {"name": "before", "in": "query", "schema": {"type": "integer"}}, {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}}],
            "responses": {"200": {"description": "records"}, "403": error_response()}}},
        "/api/media/{id}/approval": {"parameters": id_param(),
            "post": {"summary": "Approve a media item for village heads (or withdraw approval)", "security": secured,
                "requestBody": body(&json!({"type": "object", "required": ["approved"], "properties": {"approved": {"type": "boolean"}}})),
                "responses": {"200": {"description": "the item"}, "403": error_response(), "404": error_response()}}},
        "/api/alerts/{id}/reject": {"parameters": id_param(),
            "post": {"summary": "Refuse an alert held for review", "security": secured,
                "responses": {"200": {"description": "rejected"}, "409": error_response()}}}
    })
}

/// The document.
pub fn document() -> Value {
    let secured = json!([{"bearer": []}]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dalaba controller API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Emergency broadcast and loudspeaker controller. Authenticate with POST /api/login and send the token as `Authorization: Bearer <token>`. Errors are always {\"error\": {\"code\", \"message\"}}."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string", "enum": ["unauthorized", "bad_login", "bad_request", "not_found", "forbidden", "conflict", "too_large", "rate_limited", "too_slow", "internal"]},
                    "message": {"type": "string"}}}}},
                "Agent": {"type": "object", "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"},
                    "area_code": {"type": "string", "pattern": "^[0-9]{12}$"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "enrolled": {"type": "boolean"}, "public_key": {"type": ["string", "null"], "description": "identity key once enrolled"}, "retired": {"type": "boolean"}, "online": {"type": "boolean"},
                    "last_seen": {"type": ["integer", "null"], "description": "µs since the epoch"},
                    "status": {"description": "the agent's last status report (PROTOCOL.md 4.5)"}}}
            }
        },
        "paths": {
            "/": {"get": {"summary": "The operator console (HTML)", "responses": {"200": {"description": "the console"}}}},
            "/talk": {"get": {"summary": "The handheld talk page (HTML)", "responses": {"200": {"description": "the page"}}}},
            "/console/{file}": {"get": {"summary": "The console's scripts and styles", "parameters": [{"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "the file"}, "404": {"description": "no such file"}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/login": {"post": {
                "summary": "Log in",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "password"], "properties": {"name": {"type": "string"}, "password": {"type": "string"}, "device": {"type": "string", "description": "the device token an earlier login on this device returned: failures by others do not hold it back"}}}}}},
                "responses": {"200": {"description": "session", "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "integer"}, "device": {"type": "string", "description": "keep it and send it with the next login"}}}}}}, "401": error_response(), "429": error_response()}}},
            "/api/logout": {"post": {"summary": "End the session", "security": secured, "responses": {"204": {"description": "done"}, "401": error_response()}}},
            "/api/controller": {"get": {"summary": "Controller id and the public key agents pin", "security": secured,
                "responses": {"200": {"description": "identity"}, "401": error_response()}}},
            "/api/agents": {
                "get": {"summary": "Every agent with live status", "security": secured,
                    "responses": {"200": {"description": "agents", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}}}, "401": error_response()}},
                "post": {"summary": "Create an agent; returns its one-time enrolment token (shown once), or none when `public_key` is given (an agent moved here from another controller)", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["id", "name", "area_code"], "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"}, "area_code": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}},
                        "public_key": {"type": "string", "description": "the agent's identity key (base64) as its old controller shows it"}}}}}},
                    "responses": {"201": {"description": "created"}, "400": error_response(), "401": error_response(), "409": error_response()}}
            },
            "/api/agents/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"summary": "One agent", "security": secured, "responses": {"200": {"description": "agent"}, "401": error_response(), "404": error_response()}},
                "patch": {"summary": "Change an agent's name, area code or groups", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "name": {"type": "string"}, "area_code": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}}}}}},
                    "responses": {"200": {"description": "the agent"}, "400": error_response(), "401": error_response(), "404": error_response()}},
                "delete": {"summary": "Retire (revoke) an agent: it is disconnected and cannot log in again", "security": secured,
                    "responses": {"204": {"description": "retired"}, "401": error_response(), "404": error_response()}}
            },
            "/api/agents/{id}/config": {"post": {"summary": "Push a new configuration file to an agent (checked here with the agent's own parser, 400 with the line if it is not a valid configuration; signed; validated again and rolled back by the agent if it cannot reach the controller with it)", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["config_version", "document"], "properties": {
                    "config_version": {"type": "string"}, "document": {"type": "string", "description": "the whole agent.toml"}}}}}},
                "responses": {"202": {"description": "sent"}, "400": error_response(), "401": error_response(), "404": error_response(), "409": error_response(), "413": error_response()}}},
            "/api/agents/move": {"post": {"summary": "Administrators: hand agents to another controller with a signed move_controller (their pinned URL, key and certificate change only this way; on trial until they are in session there). The other controller must know each agent (created with its public_key).", "security": secured,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["agents", "url", "public_key"], "properties": {
                    "agents": {"type": "array", "items": {"type": "string"}}, "url": {"type": "string", "description": "wss://host:port/agent/ws"},
                    "public_key": {"type": "string", "description": "the other controller's command key"}, "tls_fingerprint": {"type": "string", "description": "sha256:… of the other controller's certificate; required with wss"},
                    "config_version": {"type": "string"}}}}}},
                "responses": {"202": {"description": "`sent` and `not_sent` (with the reason) per agent"}, "400": error_response(), "401": error_response(), "403": error_response()}}},
            "/api/areas": {"get": {"summary": "The area tree of the agents' area codes, with counts", "security": secured,
                "responses": {"200": {"description": "province → city → county → township → village"}, "401": error_response()}}},
            "/agent/ws": {"get": {"summary": "The agents' WebSocket endpoint (PROTOCOL.md)", "responses": {"101": {"description": "switching protocols"}}}},
            "/api/media": {
                "get": {"summary": "The media library, newest first", "security": secured, "responses": {"200": {"description": "media items"}, "401": error_response()}},
                "post": {"summary": "Upload an audio file (multipart field `file`); it is transcoded in the background. `?wait=true` answers when done.", "security": secured,
                    "parameters": [{"name": "wait", "in": "query", "schema": {"type": "boolean"}}],
                    "responses": {"201": {"description": "transcoded (with wait)"}, "202": {"description": "accepted, transcoding"}, "400": error_response(), "401": error_response(), "413": error_response()}}
            },
            "/api/media/{id}": {"get": {"summary": "One media item, with transcoding progress", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "media item"}, "401": error_response(), "404": error_response()}}},
            "/media/{hash}": {"get": {"summary": "A transcoded Ogg Opus file by SHA-256 (for agents; supports Range)",
                "parameters": [{"name": "hash", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the file"}, "206": {"description": "part of it"}, "404": error_response()}}},
            "/api/broadcasts": {"get": {"summary": "The broadcast log, newest first: every broadcast (media, scheduled, live, alert) with receipts per agent and coverage (targeted vs confirmed playing)", "security": secured,
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}}, {"name": "before", "in": "query", "schema": {"type": "integer"}, "description": "only ids below this (next page)"}],
                "responses": {"200": {"description": "broadcasts"}, "401": error_response()}},
                "post": {"summary": "Play a ready media item to a target (agents, area prefixes, groups, all)", "security": secured,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["media_id", "target"], "properties": {
                    "media_id": {"type": "integer"},
                    "target": {"type": "object", "properties": {"agents": {"type": "array", "items": {"type": "string"}}, "areas": {"type": "array", "items": {"type": "string"}}, "groups": {"type": "array", "items": {"type": "string"}}, "all": {"type": "boolean"}}},
                    "priority": {"type": "string", "enum": ["emergency", "live", "scheduled", "background"]},
                    "volume": {"type": "integer", "minimum": 0, "maximum": 100},
                    "start_in_ms": {"type": "integer"}, "repeat": {"type": "integer"}, "gap_ms": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["real", "test", "drill"]}}}}}},
                "responses": {"201": {"description": "sent"}, "400": error_response(), "401": error_response(), "404": error_response()}}},
            "/api/broadcasts/{id}": {"get": {"summary": "A broadcast and its receipts; `?wait_ms=N` waits until every receipt is final (`done`, `failed`, `cancelled`) or `unreachable`; each receipt has `state`, `at`, `started_at` (first start) and `resumed_at` (last resume)", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}, {"name": "wait_ms", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "receipts"}, "401": error_response(), "404": error_response()}}},
            "/api/broadcasts/{id}/stop": {"post": {"summary": "Stop a broadcast everywhere", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"204": {"description": "stop sent"}, "401": error_response(), "404": error_response()}}},
            "/api/live": {"post": {"summary": "Announce a live call to a target; the source then connects to source_url", "security": secured,
                "responses": {"201": {"description": "announced"}, "400": error_response(), "401": error_response()}}},
            "/api/live/{id}/source": {"get": {"summary": "The live source's WebSocket: binary audio frames (PROTOCOL.md section 8)", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"101": {"description": "switching protocols"}, "401": error_response(), "404": error_response()}}}
        }
    });
    if let (Some(paths), Value::Object(more)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        programme_paths(&secured),
    ) {
        paths.extend(more);
    }
    doc
}
