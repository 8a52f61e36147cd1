//! The media cache on a real directory: verification, resume across restarts, eviction.

use dalaba_agent::cache::{CacheError, MediaCache};
use dalaba_protocol::MediaHash;
use dalaba_protocol::command::MediaRef;

fn media(bytes: &[u8]) -> MediaRef {
    MediaRef {
        hash: MediaHash::of(bytes),
        size: bytes.len() as u64,
        duration_ms: 1000,
        url: String::new(),
    }
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn download(cache: &mut MediaCache, bytes: &[u8]) -> Result<std::path::PathBuf, CacheError> {
    let mut d = cache.begin(&media(bytes))?;
    d.write(&bytes[d.offset() as usize..])?;
    cache.finish(d)
}

#[test]
fn verified_files_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = MediaCache::open(dir.path(), 1 << 20).expect("open");
    let good = content(1, 5000);
    let path = download(&mut cache, &good).expect("verified");
    assert_eq!(std::fs::read(&path).expect("read"), good);
    assert_eq!(cache.get(&MediaHash::of(&good)), Some(path));

    // Bytes that do not match the hash: discarded, nothing left behind.
    let claimed = media(&content(2, 100));
    let mut d = cache.begin(&claimed).expect("begin");
    d.write(&content(3, 100)).expect("write");
    let err = cache.finish(d).expect_err("corrupt");
    assert!(matches!(err, CacheError::HashMismatch { .. }), "{err}");
    assert!(!cache.contains(&claimed.hash));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{}.opus", MediaHash::of(&good))]);

    // More than announced: refused before it fills the disk.
    let mut d = cache.begin(&claimed).expect("begin");
    assert!(matches!(
        d.write(&[0; 101]),
        Err(CacheError::TooLong { .. })
    ));
    // Larger than the whole cache: refused up front.
    let huge = MediaRef {
        size: 2 << 20,
        ..claimed
    };
    assert!(matches!(
        cache.begin(&huge),
        Err(CacheError::TooLarge { .. })
    ));
}

#[test]
fn interrupted_download_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = content(9, 10_000);
    {
        let mut cache = MediaCache::open(dir.path(), 1 << 20).expect("open");
        let mut d = cache.begin(&media(&bytes)).expect("begin");
        d.write(&bytes[..4_000]).expect("first part");
        // The connection drops and the agent restarts.
    }
    let mut cache = MediaCache::open(dir.path(), 1 << 20).expect("reopen");
    let mut d = cache.begin(&media(&bytes)).expect("resume");
    assert_eq!(d.offset(), 4_000, "ask for the rest only");
    d.write(&bytes[4_000..]).expect("rest");
    assert!(d.is_complete());
    cache.finish(d).expect("verified across the restart");

    // And the cached file survives another restart.
    let mut cache = MediaCache::open(dir.path(), 1 << 20).expect("reopen");
    assert!(cache.get(&MediaHash::of(&bytes)).is_some());
    assert_eq!(cache.usage().used_bytes, 10_000);
}

#[test]
fn least_recently_used_goes_first_but_never_a_pinned_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = MediaCache::open(dir.path(), 3_000).expect("open");
    let (a, b, c, d) = (
        content(1, 1000),
        content(2, 1000),
        content(3, 1000),
        content(4, 1000),
    );
    for f in [&a, &b, &c] {
        download(&mut cache, f).expect("fits");
    }
    cache.get(&MediaHash::of(&a)); // a is now more recent than b and c
    cache.pin(MediaHash::of(&b)); // b is playing
    download(&mut cache, &d).expect("evicts one");
    assert!(cache.contains(&MediaHash::of(&a)));
    assert!(cache.contains(&MediaHash::of(&b)), "pinned");
    assert!(
        !cache.contains(&MediaHash::of(&c)),
        "least recently used, unpinned"
    );
    assert!(cache.contains(&MediaHash::of(&d)));
    assert_eq!(cache.usage().items, 3);

    assert!(
        !cache.evict(&MediaHash::of(&b)).expect("evict"),
        "pinned files stay"
    );
    cache.unpin(&MediaHash::of(&b));
    assert!(cache.evict(&MediaHash::of(&b)).expect("evict"));
    assert_eq!(cache.usage().used_bytes, 2000);
}
