//! The OpenAPI 3.1 document served at `/api/openapi.json`. Kept beside the router; a test
//! checks that every route is documented.

use serde_json::{Value, json};

fn error_response() -> Value {
    json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The document.
pub fn document() -> Value {
    let secured = json!([{"bearer": []}]);
    json!({
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
                    "code": {"type": "string", "enum": ["unauthorized", "bad_login", "bad_request", "not_found", "conflict", "too_large", "internal"]},
                    "message": {"type": "string"}}}}},
                "Agent": {"type": "object", "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"},
                    "area_code": {"type": "string", "pattern": "^[0-9]{12}$"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "enrolled": {"type": "boolean"}, "retired": {"type": "boolean"}, "online": {"type": "boolean"},
                    "last_seen": {"type": ["integer", "null"], "description": "µs since the epoch"},
                    "status": {"description": "the agent's last status report (PROTOCOL.md 4.5)"}}}
            }
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/login": {"post": {
                "summary": "Log in",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "password"], "properties": {"name": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {"200": {"description": "session", "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "integer"}}}}}}, "401": error_response()}}},
            "/api/logout": {"post": {"summary": "End the session", "security": secured, "responses": {"204": {"description": "done"}, "401": error_response()}}},
            "/api/controller": {"get": {"summary": "Controller id and the public key agents pin", "security": secured,
                "responses": {"200": {"description": "identity"}, "401": error_response()}}},
            "/api/agents": {
                "get": {"summary": "Every agent with live status", "security": secured,
                    "responses": {"200": {"description": "agents", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}}}, "401": error_response()}},
                "post": {"summary": "Create an agent; returns its one-time enrolment token (shown once)", "security": secured,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["id", "name", "area_code"], "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"}, "area_code": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}}}}}},
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
            "/api/agents/{id}/config": {"post": {"summary": "Push a new configuration file to an agent (signed; validated and rolled back by the agent if it cannot reach the controller with it)", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["config_version", "document"], "properties": {
                    "config_version": {"type": "string"}, "document": {"type": "string", "description": "the whole agent.toml"}}}}}},
                "responses": {"202": {"description": "sent"}, "400": error_response(), "401": error_response(), "404": error_response(), "409": error_response(), "413": error_response()}}},
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
            "/api/broadcasts": {"post": {"summary": "Play a ready media item to a target (agents, area prefixes, groups, all)", "security": secured,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["media_id", "target"], "properties": {
                    "media_id": {"type": "integer"},
                    "target": {"type": "object", "properties": {"agents": {"type": "array", "items": {"type": "string"}}, "areas": {"type": "array", "items": {"type": "string"}}, "groups": {"type": "array", "items": {"type": "string"}}, "all": {"type": "boolean"}}},
                    "priority": {"type": "string", "enum": ["emergency", "live", "scheduled", "background"]},
                    "volume": {"type": "integer", "minimum": 0, "maximum": 100},
                    "start_in_ms": {"type": "integer"}, "repeat": {"type": "integer"}, "gap_ms": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["real", "test", "drill"]}}}}}},
                "responses": {"201": {"description": "sent"}, "400": error_response(), "401": error_response(), "404": error_response()}}},
            "/api/broadcasts/{id}": {"get": {"summary": "A broadcast and its receipts; `?wait_ms=N` waits until every receipt is final", "security": secured,
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
    })
}
