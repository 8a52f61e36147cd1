//! The deployment's own area names: its villages (the shipped names stop at townships)
//! and any code it renames. The shipped names are not stored; see `domain::areas`.

use rusqlite::params;

use super::{SqliteStorage, StorageError};

/// Area names given by this deployment, by code.
pub trait AreaNameStore {
    /// Every name this deployment gave, by code, sorted.
    fn area_names(&self) -> Result<Vec<(String, String)>, StorageError>;

    /// Sets each `(code, name)` in one transaction; an empty name removes the
    /// deployment's name (the shipped one, if any, shows again). How many changed.
    fn set_area_names(&self, names: &[(String, String)]) -> Result<usize, StorageError>;
}

impl AreaNameStore for SqliteStorage {
    fn area_names(&self) -> Result<Vec<(String, String)>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT code, name FROM area_names ORDER BY code")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_area_names(&self, names: &[(String, String)]) -> Result<usize, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut changed = 0;
        {
            let mut upsert = tx.prepare(
                "INSERT INTO area_names (code, name) VALUES (?1, ?2)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            )?;
            let mut remove = tx.prepare("DELETE FROM area_names WHERE code = ?1")?;
            for (code, name) in names {
                changed += if name.is_empty() {
                    remove.execute(params![code])?
                } else {
                    upsert.execute(params![code, name])?
                };
            }
        }
        tx.commit()?;
        Ok(changed)
    }
}
