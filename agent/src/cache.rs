//! The agent's media cache: Ogg Opus files addressed by their SHA-256.
//!
//! A file enters the cache only after its bytes hash to its name, so a file in the cache
//! is verified by construction and a damaged download can never be played. Downloads go to
//! `<hash>.partial` and survive restarts, so an interrupted download resumes where it
//! stopped (the controller serves HTTP ranges). Beyond the size limit, the least recently
//! used files are evicted, except those pinned (playing or scheduled).
//!
//! The download transport is not here: the owner feeds bytes to a [`Download`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dalaba_protocol::MediaHash;
use dalaba_protocol::command::MediaRef;
use dalaba_protocol::control::CacheUsage;
use sha2::{Digest, Sha256};

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing the cache directory failed.
    #[error("media cache {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The downloaded bytes do not hash to the name: the download is discarded.
    #[error("media {expected}: downloaded bytes hash to {got}; discarded")]
    HashMismatch {
        /// The hash asked for.
        expected: MediaHash,
        /// The hash of what arrived.
        got: MediaHash,
    },
    /// More bytes arrived than the file's announced size: discarded.
    #[error("media {hash}: more than the announced {size} bytes arrived; discarded")]
    TooLong {
        /// The file.
        hash: MediaHash,
        /// Its announced size.
        size: u64,
    },
    /// The file is larger than the whole cache.
    #[error("media {hash} is {size} bytes, larger than the cache ({capacity} bytes)")]
    TooLarge {
        /// The file.
        hash: MediaHash,
        /// Its size.
        size: u64,
        /// The cache's capacity.
        capacity: u64,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The media cache.
#[derive(Debug)]
pub struct MediaCache {
    dir: PathBuf,
    capacity: u64,
    /// Size and last use (a counter, higher is more recent) of each cached file.
    entries: BTreeMap<MediaHash, (u64, u64)>,
    pinned: BTreeSet<MediaHash>,
    clock: u64,
}

impl MediaCache {
    /// Opens (creating if needed) the cache in `dir`, holding at most `capacity` bytes.
    /// Files from before a restart are kept, oldest-modified first in line for eviction.
    pub fn open(dir: &Path, capacity: u64) -> Result<Self, CacheError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(hash) = name
                .strip_suffix(".opus")
                .and_then(|h| h.parse::<MediaHash>().ok())
            {
                let meta = entry.metadata().map_err(io(&path))?;
                let modified = meta.modified().ok();
                found.push((modified, hash, meta.len()));
            } else if name.ends_with(".tmp") {
                // A verification that a crash interrupted; the .partial is still there.
                let _ = fs::remove_file(&path);
            }
        }
        found.sort();
        let mut cache = Self {
            dir: dir.to_owned(),
            capacity,
            entries: BTreeMap::new(),
            pinned: BTreeSet::new(),
            clock: 0,
        };
        for (_, hash, size) in found {
            cache.clock += 1;
            cache.entries.insert(hash, (size, cache.clock));
        }
        cache.evict_beyond(0)?;
        Ok(cache)
    }

    fn file(&self, hash: &MediaHash) -> PathBuf {
        self.dir.join(format!("{hash}.opus"))
    }

    fn partial(&self, hash: &MediaHash) -> PathBuf {
        self.dir.join(format!("{hash}.partial"))
    }

    /// The verified file for `hash`, if cached; counts as a use.
    pub fn get(&mut self, hash: &MediaHash) -> Option<PathBuf> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(hash)?;
        entry.1 = clock;
        Some(self.file(hash))
    }

    /// Whether `hash` is cached.
    pub fn contains(&self, hash: &MediaHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Keeps `hash` from eviction (it is playing or scheduled).
    pub fn pin(&mut self, hash: MediaHash) {
        self.pinned.insert(hash);
    }

    /// Allows `hash` to be evicted again.
    pub fn unpin(&mut self, hash: &MediaHash) {
        self.pinned.remove(hash);
    }

    /// Bytes used, bytes allowed and files cached, for status.
    pub fn usage(&self) -> CacheUsage {
        CacheUsage {
            used_bytes: self.used(),
            capacity_bytes: self.capacity,
            items: u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
        }
    }

    fn used(&self) -> u64 {
        self.entries.values().map(|(size, _)| size).sum()
    }

    /// Removes `hash` from the cache (`evict_media`). A pinned file stays until unpinned.
    pub fn evict(&mut self, hash: &MediaHash) -> Result<bool, CacheError> {
        if self.pinned.contains(hash) || self.entries.remove(hash).is_none() {
            return Ok(false);
        }
        let path = self.file(hash);
        fs::remove_file(&path).map_err(io(&path))?;
        Ok(true)
    }

    /// Evicts least recently used, unpinned files until `extra` more bytes fit.
    fn evict_beyond(&mut self, extra: u64) -> Result<(), CacheError> {
        while self.used() + extra > self.capacity {
            let victim = self
                .entries
                .iter()
                .filter(|(h, _)| !self.pinned.contains(*h))
                .min_by_key(|(_, (_, used))| *used)
                .map(|(h, _)| *h);
            let Some(victim) = victim else { break };
            self.entries.remove(&victim);
            let path = self.file(&victim);
            fs::remove_file(&path).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Starts or resumes downloading `media`. The [`Download`] says from which byte to
    /// request the rest (an HTTP `Range`).
    pub fn begin(&mut self, media: &MediaRef) -> Result<Download, CacheError> {
        if media.size > self.capacity {
            return Err(CacheError::TooLarge {
                hash: media.hash,
                size: media.size,
                capacity: self.capacity,
            });
        }
        let path = self.partial(&media.hash);
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut offset = file.metadata().map_err(io(&path))?.len();
        if offset > media.size {
            // Left over from something else: start again.
            file.set_len(0).map_err(io(&path))?;
            offset = 0;
        }
        Ok(Download {
            hash: media.hash,
            size: media.size,
            path,
            file,
            offset,
        })
    }

    /// Verifies a completed download and moves it into the cache, evicting as needed.
    /// On a hash mismatch the partial file is deleted: the next attempt starts afresh.
    pub fn finish(&mut self, download: Download) -> Result<PathBuf, CacheError> {
        let Download {
            hash,
            size,
            path,
            file,
            ..
        } = download;
        file.sync_all().map_err(io(&path))?;
        drop(file);
        let got = hash_file(&path)?;
        if got != hash {
            fs::remove_file(&path).map_err(io(&path))?;
            return Err(CacheError::HashMismatch {
                expected: hash,
                got,
            });
        }
        self.evict_beyond(size)?;
        let target = self.file(&hash);
        fs::rename(&path, &target).map_err(io(&target))?;
        self.clock += 1;
        self.entries.insert(hash, (size, self.clock));
        Ok(target)
    }
}

fn hash_file(path: &Path) -> Result<MediaHash, CacheError> {
    let mut file = fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(MediaHash::from_digest(hasher.finalize().into()))
}

/// A download in progress, appending to `<hash>.partial`.
#[derive(Debug)]
pub struct Download {
    hash: MediaHash,
    size: u64,
    path: PathBuf,
    file: fs::File,
    offset: u64,
}

impl Download {
    /// The first byte still missing: request `Range: bytes=<offset>-`.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether every announced byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.offset == self.size
    }

    /// Appends received bytes. More than the announced size discards the download.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        if self.offset + bytes.len() as u64 > self.size {
            let _ = fs::remove_file(&self.path);
            return Err(CacheError::TooLong {
                hash: self.hash,
                size: self.size,
            });
        }
        self.file.write_all(bytes).map_err(io(&self.path))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }
}
