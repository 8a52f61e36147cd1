//! The schema, one migration per version (`PRAGMA user_version`).

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: accounts, sessions, agents.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE users (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        role TEXT NOT NULL, created_at INTEGER NOT NULL DEFAULT (unixepoch()));
     CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
        expires_at INTEGER NOT NULL);
     CREATE TABLE agents (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, area_code TEXT NOT NULL,
        public_key TEXT, token_hash TEXT UNIQUE, token_expires_at INTEGER,
        last_seq INTEGER NOT NULL DEFAULT 0, retired INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER, status_json TEXT);
     CREATE TABLE agent_groups (
        agent_id TEXT NOT NULL REFERENCES agents(id), name TEXT NOT NULL,
        PRIMARY KEY (agent_id, name));
     CREATE TABLE broadcasts (
        id INTEGER PRIMARY KEY, created_by INTEGER REFERENCES users(id),
        created_at INTEGER NOT NULL, spec_json TEXT NOT NULL, stopped_at INTEGER);
     CREATE TABLE receipts (
        broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id), agent_id TEXT NOT NULL,
        state TEXT NOT NULL, detail TEXT, at INTEGER NOT NULL,
        PRIMARY KEY (broadcast_id, agent_id));",
    // 2: media library.
    "CREATE TABLE media (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0, error TEXT, hash TEXT, size INTEGER,
        duration_ms INTEGER, gain_db REAL, created_at INTEGER NOT NULL);
     CREATE INDEX media_hash ON media(hash);",
    // 3: when each agent started playing.
    "ALTER TABLE receipts ADD COLUMN started_at INTEGER;",
    // 4: playlists, schedules and alerts (JSON documents), schedule runs.
    "CREATE TABLE docs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, json TEXT NOT NULL,
        updated_at INTEGER NOT NULL);
     CREATE INDEX docs_kind ON docs(kind, id);
     CREATE TABLE schedule_runs (
        schedule_id INTEGER NOT NULL, fire_at INTEGER NOT NULL, state TEXT NOT NULL,
        broadcasts TEXT NOT NULL DEFAULT '[]', detail TEXT,
        PRIMARY KEY (schedule_id, fire_at));
     CREATE INDEX schedule_runs_fire_at ON schedule_runs(fire_at);",
    // 5: user scopes and disabling; the audit log (append-only: the API has no way to
    // change it, and triggers refuse updates and deletes).
    "ALTER TABLE users ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
     ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE media ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, user TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT, result TEXT NOT NULL, source TEXT);
     CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
     CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 6: every playlist has an owner and a scope: those made before become the first
    // admin's, scoped everywhere (only an admin may change them).
    "UPDATE docs SET json = json_set(json, '$.owner',
        (SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1), '$.areas', json('[]'))
     WHERE kind = 'playlist' AND json_extract(json, '$.owner') IS NULL;",
    // 7: a resume is kept apart from the first start.
    "ALTER TABLE receipts ADD COLUMN resumed_at INTEGER;",
    // 8: the deployment's own area names (its villages; renamed codes), over the shipped ones.
    "CREATE TABLE area_names (code TEXT PRIMARY KEY, name TEXT NOT NULL);",
    // 9: where each speaker stands (WGS-84 degrees), for the map.
    "ALTER TABLE agents ADD COLUMN lat REAL; ALTER TABLE agents ADD COLUMN lon REAL;",
    // 10: each speaker's log (online, offline, fault, recovered).
    "CREATE TABLE agent_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL, at INTEGER NOT NULL,
        kind TEXT NOT NULL, detail TEXT);
     CREATE INDEX agent_log_agent ON agent_log(agent_id, at);
     CREATE INDEX receipts_agent ON receipts(agent_id, broadcast_id);",
    // 11: alarms (a speaker offline too long, a fault, a clock off), raised, cleared and
    // acknowledged.
    "CREATE TABLE alarms (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, agent_id TEXT NOT NULL,
        detail TEXT, raised_at INTEGER NOT NULL, cleared_at INTEGER,
        acked_by TEXT, acked_at INTEGER);
     CREATE INDEX alarms_open ON alarms(cleared_at);",
];
