//! How the terminal's files are written: its configuration, its state directory and its
//! key (the controller writes its own key and certificate the same way). Two ways, each
//! fsynced: atomically, or new and private.

use std::path::Path;

/// Writes `text` to `path` atomically: a temporary file beside it (`<name>.tmp`), fsync,
/// rename. A crash leaves the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut f = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Creates `path` with `text`, readable by the owner only (a key), fsynced; refuses to
/// overwrite.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
