//! `dalaba-controller backup` and `restore`: a controller's data directory in one tar
//! file, copied while the controller runs.
//!
//! The archive holds the database (a consistent copy made by SQLite, [`storage::snapshot`]),
//! the command key and the TLS certificate with its key (what agents pin: a restored
//! controller is the same controller to them), and the media library (`media/*.opus`).
//! `MANIFEST.json` comes last: every file with its size and SHA-256. A copy without it is
//! incomplete; a file that differs from it is damaged. Restore checks all of that, and the
//! database's integrity, in a staging directory beside the target before it renames it
//! into place, and never writes into a directory that holds data.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::storage;

/// The database file in a data directory.
pub const DATABASE: &str = "dalaba.sqlite";
/// The keys and certificate (`identity` and `tls` make them).
pub const KEYS: [&str; 4] = ["controller.key", "controller.id", "tls.crt", "tls.key"];
/// The media library's folder.
pub const MEDIA: &str = "media";
const MANIFEST: &str = "MANIFEST.json";
const FORMAT: u32 = 1;

/// What the archive says it holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// The controller that wrote it, e.g. `dalaba-controller/0.1.0`.
    made_by: String,
    /// Unix seconds.
    made_at: u64,
    /// The database's schema version.
    schema: i64,
    /// Path in the archive → size and SHA-256 (hex).
    files: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
    sha256: String,
}

/// What a backup or restore copied.
#[derive(Debug, Default)]
pub struct Summary {
    /// Bytes of the database copy.
    pub database_bytes: u64,
    /// Media files, and their bytes.
    pub media: usize,
    /// Bytes of media.
    pub media_bytes: u64,
    /// Media files deleted from the library while the backup ran (not copied).
    pub vanished: Vec<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = |b: u64| {
            if b < 1 << 20 {
                format!("{:.0} KiB", b as f64 / 1024.0)
            } else {
                format!("{:.1} MiB", b as f64 / 1_048_576.0)
            }
        };
        write!(
            f,
            "database {}, keys and certificate, {} media file{} ({})",
            size(self.database_bytes),
            self.media,
            if self.media == 1 { "" } else { "s" },
            size(self.media_bytes)
        )?;
        if !self.vanished.is_empty() {
            write!(
                f,
                "; {} media file(s) deleted during the backup were left out",
                self.vanished.len()
            )?;
        }
        Ok(())
    }
}

/// Copies the data directory `data_dir` into the tar file `to` (written beside it and
/// renamed into place, so a failed backup leaves no half file).
pub fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<Summary> {
    let db = data_dir.join(DATABASE);
    if !db.is_file() {
        bail!(
            "{}: no controller data here (no {DATABASE}); give the controller's --data-dir or --config",
            data_dir.display()
        );
    }
    let partial = with_suffix(to, ".partial");
    let snapshot = with_suffix(to, ".sqlite-partial");
    let _ = std::fs::remove_file(&snapshot);
    let result = (|| {
        storage::snapshot(&db, &snapshot)
            .with_context(|| format!("copying the database {}", db.display()))?;
        let schema = storage::check(&snapshot).context("checking the database copy")?;
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let mut archive = Archive::new(std::io::BufWriter::new(file));
        let mut summary = Summary {
            database_bytes: archive.add_file(DATABASE, &snapshot)?,
            ..Summary::default()
        };
        for key in KEYS {
            archive.add_file(key, &data_dir.join(key))?;
        }
        for (name, path) in media_files(&data_dir.join(MEDIA))? {
            match archive.add_file(&format!("{MEDIA}/{name}"), &path) {
                Ok(bytes) => {
                    summary.media += 1;
                    summary.media_bytes += bytes;
                }
                // Deleted from the library since it was listed.
                Err(_) if !path.exists() => summary.vanished.push(name),
                Err(e) => return Err(e),
            }
        }
        archive.finish(schema)?;
        std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
        Ok(summary)
    })();
    let _ = std::fs::remove_file(&snapshot);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Restores the archive `from` into `data_dir`, which must not exist or be empty.
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<Summary> {
    if data_dir.exists()
        && std::fs::read_dir(data_dir)
            .with_context(|| format!("cannot read {}", data_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: restore into a new directory (restoring never overwrites a controller's data), then start the controller with --data-dir on it",
            data_dir.display()
        );
    }
    let staging = with_suffix(data_dir, &format!(".restoring-{}", std::process::id()));
    let result = unpack(from, &staging).and_then(|summary| {
        if data_dir.exists() {
            std::fs::remove_dir(data_dir)?;
        }
        std::fs::rename(&staging, data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        Ok(summary)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Unpacks and checks the archive `from` into the new directory `into`.
fn unpack(from: &Path, into: &Path) -> anyhow::Result<Summary> {
    let file =
        std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    private_dir(into)?;
    private_dir(&into.join(MEDIA))?;
    let mut found: BTreeMap<String, Entry> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let incomplete = |e: std::io::Error| {
        anyhow::anyhow!(
            "{}: incomplete or not a Dalaba backup ({e})",
            from.display()
        )
    };
    for entry in tar.entries().map_err(incomplete)? {
        let mut entry = entry.map_err(incomplete)?;
        let name = entry
            .path()
            .map_err(incomplete)?
            .to_string_lossy()
            .into_owned();
        if name == MANIFEST {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(incomplete)?;
            manifest = Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: {MANIFEST} is unreadable", from.display()))?,
            );
            continue;
        }
        if !expected_name(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            bail!(
                "{}: holds {name:?}, which is not part of a controller's data",
                from.display()
            );
        }
        if found.contains_key(&name) {
            bail!("{}: holds {name} twice", from.display());
        }
        let mut out = private_file(&into.join(&name))?;
        let written = copy_hashing(&mut entry, &mut out).map_err(incomplete)?;
        found.insert(name, written);
    }
    let Some(manifest) = manifest else {
        bail!(
            "{}: incomplete: it ends before its {MANIFEST} (a backup cut short, or not a Dalaba backup)",
            from.display()
        );
    };
    if manifest.format != FORMAT {
        bail!(
            "{}: backup format {} (this controller reads {FORMAT})",
            from.display(),
            manifest.format
        );
    }
    for (name, want) in &manifest.files {
        match found.get(name) {
            None => bail!("{}: incomplete: {name} is missing", from.display()),
            Some(got) if got != want => bail!(
                "{}: {name} is damaged (its SHA-256 or size differs from the manifest's)",
                from.display()
            ),
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|n| !manifest.files.contains_key(*n)) {
        bail!("{}: {extra} is not in its manifest", from.display());
    }
    for name in std::iter::once(DATABASE).chain(KEYS) {
        if !found.contains_key(name) {
            bail!("{}: incomplete: {name} is missing", from.display());
        }
    }
    let mut summary = Summary::default();
    for (name, entry) in &found {
        if let Some(file) = name.strip_prefix("media/") {
            // Media files are named by their content's SHA-256.
            if file.trim_end_matches(".opus") != entry.sha256 {
                bail!(
                    "{}: {name} does not hold what its name says",
                    from.display()
                );
            }
            summary.media += 1;
            summary.media_bytes += entry.size;
        }
    }
    summary.database_bytes = found[DATABASE].size;
    storage::check(&into.join(DATABASE))
        .with_context(|| format!("{}: the database in it", from.display()))?;
    Ok(summary)
}

/// Writes entries and remembers what it wrote, for the manifest.
struct Archive<W: Write> {
    tar: tar::Builder<W>,
    files: BTreeMap<String, Entry>,
}

impl<W: Write> Archive<W> {
    fn new(out: W) -> Self {
        Self {
            tar: tar::Builder::new(out),
            files: BTreeMap::new(),
        }
    }

    /// Adds the file at `path` as `name`; returns its size.
    fn add_file(&mut self, name: &str, path: &Path) -> anyhow::Result<u64> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let size = file.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_mtime(now());
        header.set_entry_type(tar::EntryType::Regular);
        let mut reader = Hashing::new(file.take(size));
        self.tar
            .append_data(&mut header, name, &mut reader)
            .with_context(|| format!("writing {name} to the backup"))?;
        if reader.size != size {
            bail!("{} changed while it was copied", path.display());
        }
        self.files.insert(name.to_owned(), reader.entry());
        Ok(size)
    }

    fn finish(mut self, schema: i64) -> anyhow::Result<()> {
        let manifest = Manifest {
            format: FORMAT,
            made_by: concat!("dalaba-controller/", env!("CARGO_PKG_VERSION")).into(),
            made_at: now(),
            schema,
            files: self.files,
        };
        let text = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(manifest.made_at);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar
            .append_data(&mut header, MANIFEST, text.as_slice())?;
        let mut out = self.tar.into_inner()?;
        out.flush()?;
        Ok(())
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
            size: 0,
        }
    }

    fn entry(self) -> Entry {
        Entry {
            size: self.size,
            sha256: hex::encode(self.hash.finalize()),
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

fn copy_hashing(from: &mut impl Read, to: &mut std::fs::File) -> std::io::Result<Entry> {
    let mut reader = Hashing::new(from);
    std::io::copy(&mut reader, to)?;
    to.sync_all()?;
    Ok(reader.entry())
}

/// The library's files (`<sha256>.opus`), by name; none if there is no library yet.
fn media_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if expected_name(&format!("{MEDIA}/{name}")) {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `name` is a file a data directory holds (nothing else is unpacked).
fn expected_name(name: &str) -> bool {
    if name == DATABASE || KEYS.contains(&name) {
        return true;
    }
    name.strip_prefix("media/")
        .and_then(|f| f.strip_suffix(".opus"))
        .is_some_and(|hash| {
            hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file a controller makes in its data directory is one a backup copies (or
    /// SQLite's own WAL files, which the database copy includes): a new file that is
    /// neither fails here.
    #[test]
    fn a_backup_copies_every_file_a_data_directory_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, _) = crate::open(dir.path()).expect("open");
        std::fs::create_dir_all(state.media_dir.join("incoming")).expect("media");
        std::fs::write(
            state.media_dir.join(format!("{}.opus", "ab".repeat(32))),
            b"x",
        )
        .expect("media");
        for entry in std::fs::read_dir(dir.path()).expect("ls") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            assert!(
                expected_name(&name) || name == MEDIA || name.starts_with(&format!("{DATABASE}-")),
                "{name} is in a data directory but not in a backup"
            );
        }
        assert_eq!(media_files(&state.media_dir).expect("media").len(), 1);
    }

    #[test]
    fn only_a_data_directory_s_own_names_are_unpacked() {
        assert!(expected_name("dalaba.sqlite"));
        assert!(expected_name("tls.key"));
        assert!(expected_name(&format!("media/{}.opus", "0f".repeat(32))));
        for bad in [
            "../etc/passwd",
            "media/../../x.opus",
            "/etc/dalaba/controller.toml",
            "media/incoming/x.upload",
            &format!("media/{}.opus", "0F".repeat(32)),
            "MANIFEST.json.extra",
        ] {
            assert!(!expected_name(bad), "{bad}");
        }
    }
}
