//! User accounts (role, scopes, disabled) and sessions.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStorage, StorageError};
use crate::role::Role;

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// What they may do.
    pub role: Role,
    /// Area-code prefixes the user may reach (empty for an admin: everything).
    pub scopes: Vec<String>,
    /// A disabled user cannot log in; their sessions are ended.
    pub disabled: bool,
}

const USER_COLUMNS: &str = "id, name, password_hash, role, scopes, disabled";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        role: Role::parse(&r.get::<_, String>(3)?),
        scopes: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        disabled: r.get(5)?,
    })
}

/// User accounts and their sessions.
pub trait UserStore {
    /// Number of user accounts.
    fn user_count(&self) -> Result<u64, StorageError>;

    /// Creates a user.
    fn create_user(&self, name: &str, password_hash: &str, role: Role)
    -> Result<i64, StorageError>;

    /// A user by name.
    fn user_by_name(&self, name: &str) -> Result<Option<User>, StorageError>;

    /// A user by id.
    fn user_by_id(&self, id: i64) -> Result<Option<User>, StorageError>;

    /// Every user, by id.
    fn users(&self) -> Result<Vec<User>, StorageError>;

    /// Changes a user's role, scopes, disabled flag or password hash (each if given);
    /// false if there is no such user. Disabling ends the user's sessions.
    fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        scopes: Option<&[String]>,
        disabled: Option<bool>,
        password_hash: Option<&str>,
    ) -> Result<bool, StorageError>;

    /// Stores a session (by the token's hash).
    fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at: u64,
    ) -> Result<(), StorageError>;

    /// The user of a live session.
    fn session_user(&self, token_hash: &str, now: u64) -> Result<Option<i64>, StorageError>;

    /// Ends a session.
    fn delete_session(&self, token_hash: &str) -> Result<(), StorageError>;
}

impl UserStore for SqliteStorage {
    fn user_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<i64, StorageError> {
        let conn = self.conn();
        match conn.execute(
            "INSERT INTO users (name, password_hash, role) VALUES (?1, ?2, ?3)",
            [name, password_hash, role.as_str()],
        ) {
            Ok(_) => Ok(conn.last_insert_rowid()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StorageError::Conflict(format!("user {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
                [name],
                user_row,
            )
            .optional()?)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<User>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()?)
    }

    fn users(&self) -> Result<Vec<User>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
        let rows = stmt.query_map([], user_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_user(
        &self,
        id: i64,
        role: Option<Role>,
        scopes: Option<&[String]>,
        disabled: Option<bool>,
        password_hash: Option<&str>,
    ) -> Result<bool, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let scopes = scopes.map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
        let n = tx.execute(
            "UPDATE users SET role = coalesce(?2, role), scopes = coalesce(?3, scopes),
                 disabled = coalesce(?4, disabled), password_hash = coalesce(?5, password_hash)
             WHERE id = ?1",
            params![id, role.map(Role::as_str), scopes, disabled, password_hash],
        )?;
        if disabled == Some(true) || password_hash.is_some() {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.conn().execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![token_hash, user_id, expires_at as i64],
        )?;
        Ok(())
    }

    fn session_user(&self, token_hash: &str, now: u64) -> Result<Option<i64>, StorageError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_id FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn delete_session(&self, token_hash: &str) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }
}
