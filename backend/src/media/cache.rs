//! The two caches in front of the encoders: a bounded in-memory map keyed by media location, and
//! an on-disk store keyed by content hash, so a second run and the swapped pass re-use encodings.
//!
//! Disk layout: `<cache_dir>/media/<first two hex digits>/<64-hex key>`, one UTF-8 file per
//! result whose parts (video frames) are separated by `\n`; `<cache_dir>/media/scratch/` holds
//! short-lived ffmpeg inputs.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use omnireward_shared::MediaLocation;
use sha2::{Digest, Sha256};

/// Version of the encoders' output. Bump it whenever any output changes for the same input
/// (codec settings, sampling, WAV layout): it is part of every disk key, so old entries are
/// simply never read again.
pub const ENCODER_VERSION: u32 = 1;

/// How calls were answered since the encoder was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStatistics {
    /// Answered from the in-memory map (no disk read, no hashing).
    pub memory_hits: u64,
    /// Answered from the on-disk cache (source read and hashed, nothing encoded).
    pub disk_hits: u64,
    /// Encoded from the source.
    pub encodes: u64,
}

/// The strings one operation produced (one, or one per video frame), shared without copying.
pub(super) type Parts = Arc<[Arc<str>]>;

/// Thread-safe counters behind [`CacheStatistics`].
#[derive(Default)]
pub(super) struct Counters {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    encodes: AtomicU64,
}

impl Counters {
    pub(super) fn memory_hit(&self) {
        self.memory_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn disk_hit(&self) {
        self.disk_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn encode(&self) {
        self.encodes.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> CacheStatistics {
        CacheStatistics {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            encodes: self.encodes.load(Ordering::Relaxed),
        }
    }
}

/// The in-memory key: operation, parameters and where the sources live. Media files are treated
/// as immutable for the life of the process, so a hit needs neither a read nor a hash.
pub(super) fn memory_key(
    operation: &str,
    parameters: &str,
    locations: &[&MediaLocation],
) -> String {
    // The derived `Debug` of a location quotes and escapes every field, so distinct locations
    // never print alike.
    let mut key = format!("{operation}\n{parameters}");
    for location in locations {
        key.push('\n');
        key.push_str(&format!("{location:?}"));
    }
    key
}

/// The on-disk key: SHA-256 over the encoder version, operation, parameters and the SHA-256 of
/// each source's bytes, as lowercase hex.
pub(super) fn content_key(operation: &str, parameters: &str, digests: &[[u8; 32]]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "omnireward-media\nversion={ENCODER_VERSION}\n{operation}\n{parameters}\n"
    ));
    for digest in digests {
        hasher.update(hex::encode(digest));
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// A map from memory key to encoded parts, bounded by the total length of the stored strings.
///
/// Eviction is first-in first-out: a run walks the benchmark once per setting and order, so the
/// oldest entries are the ones least likely to be asked for again. An entry larger than the
/// whole bound is not kept in memory (the disk cache still has it).
pub(super) struct MemoryCache {
    limit_bytes: usize,
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    entries: HashMap<String, MemoryEntry>,
    insertion_order: VecDeque<String>,
    total_bytes: usize,
}

struct MemoryEntry {
    parts: Parts,
    bytes: usize,
}

impl MemoryCache {
    pub(super) fn new(limit_bytes: usize) -> MemoryCache {
        MemoryCache {
            limit_bytes,
            state: Mutex::new(MemoryState::default()),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<Parts> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.entries.get(key).map(|entry| Arc::clone(&entry.parts))
    }

    /// Stores `parts` and returns what the map now holds for `key`: the earlier value when a
    /// concurrent call stored the same (identical) result first, so callers share one copy.
    pub(super) fn insert(&self, key: String, parts: Parts) -> Parts {
        let bytes = key.len() + parts.iter().map(|part| part.len()).sum::<usize>();
        if bytes > self.limit_bytes {
            return parts;
        }
        // Nothing below panics, so a poisoned lock still guards a consistent map.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = state.entries.get(&key) {
            return Arc::clone(&existing.parts);
        }
        while state.total_bytes + bytes > self.limit_bytes {
            let Some(oldest) = state.insertion_order.pop_front() else {
                break;
            };
            if let Some(evicted) = state.entries.remove(&oldest) {
                state.total_bytes -= evicted.bytes;
            }
        }
        state.total_bytes += bytes;
        state.insertion_order.push_back(key.clone());
        let entry = MemoryEntry {
            parts: Arc::clone(&parts),
            bytes,
        };
        state.entries.insert(key, entry);
        parts
    }
}

/// The content-addressed store under `<cache_dir>/media`.
pub(super) struct DiskCache {
    root: PathBuf,
    scratch: PathBuf,
}

impl DiskCache {
    pub(super) fn new(cache_dir: &Path) -> DiskCache {
        let root = cache_dir.join("media");
        let scratch = root.join("scratch");
        DiskCache { root, scratch }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Where temporary ffmpeg inputs go: on the cache's file system, not in a system temp folder.
    pub(super) fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn path(&self, key: &str) -> PathBuf {
        let shard = key.get(..2).unwrap_or("00");
        self.root.join(shard).join(key)
    }

    /// The stored parts for `key`, or `None` on a miss. An unreadable or malformed entry counts
    /// as a miss: it is re-encoded and overwritten.
    pub(super) fn read(&self, key: &str, parts: usize) -> Option<Vec<Arc<str>>> {
        let path = self.path(key);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "unreadable media cache entry");
                return None;
            }
        };
        let stored: Vec<Arc<str>> = text.split('\n').map(Arc::from).collect();
        if stored.len() != parts || stored.iter().any(|part| part.is_empty()) {
            tracing::warn!(path = %path.display(), "malformed media cache entry; re-encoding");
            return None;
        }
        Some(stored)
    }

    /// Writes the parts for `key` atomically (a private temporary file renamed into place), so
    /// readers never see a partial entry and concurrent writers of the same key are harmless.
    pub(super) fn write(&self, key: &str, parts: &[Arc<str>]) -> Result<(), (PathBuf, io::Error)> {
        let path = self.path(key);
        let folder = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|error| (folder.clone(), error))?;
        let temporary = folder.join(format!(".{key}.{}.tmp", unique_suffix()));
        let contents = parts.join("\n");
        let result =
            std::fs::write(&temporary, contents).and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(error) = result {
            let _ = std::fs::remove_file(&temporary);
            return Err((path, error));
        }
        Ok(())
    }
}

/// A suffix unique within this machine's processes: process id and a per-process counter.
pub(super) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Parts {
        vec![Arc::<str>::from(text)].into()
    }

    #[test]
    fn memory_cache_evicts_oldest_entries_first() {
        // Each entry is a 1-byte key plus 10 bytes of value: three fit in 33 bytes.
        let cache = MemoryCache::new(33);
        for key in ["a", "b", "c"] {
            cache.insert(key.to_owned(), parts("0123456789"));
        }
        assert!(cache.get("a").is_some());
        cache.insert("d".to_owned(), parts("0123456789"));
        assert!(cache.get("a").is_none(), "the oldest entry goes first");
        for key in ["b", "c", "d"] {
            assert!(cache.get(key).is_some(), "{key} is kept");
        }
    }

    #[test]
    fn memory_cache_skips_entries_larger_than_its_bound() {
        let cache = MemoryCache::new(5);
        cache.insert("key".to_owned(), parts("far too long"));
        assert!(cache.get("key").is_none());
    }

    #[test]
    fn memory_cache_keeps_the_first_of_concurrent_results() {
        let cache = MemoryCache::new(1000);
        let first = cache.insert("key".to_owned(), parts("value"));
        let second = cache.insert("key".to_owned(), parts("value"));
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn content_keys_depend_on_every_input() {
        let base = content_key("operation", "quality=75", &[[1; 32]]);
        assert_eq!(base.len(), 64);
        assert_ne!(base, content_key("other", "quality=75", &[[1; 32]]));
        assert_ne!(base, content_key("operation", "quality=90", &[[1; 32]]));
        assert_ne!(base, content_key("operation", "quality=75", &[[2; 32]]));
        assert_ne!(
            content_key("operation", "", &[[1; 32], [2; 32]]),
            content_key("operation", "", &[[2; 32], [1; 32]]),
            "order of sources matters"
        );
    }

    #[test]
    fn disk_entries_round_trip_and_malformed_ones_miss() -> anyhow::Result<()> {
        let folder = tempfile::tempdir()?;
        let disk = DiskCache::new(folder.path());
        let key = content_key("operation", "", &[[7; 32]]);
        assert!(disk.read(&key, 2).is_none());
        disk.write(&key, &[Arc::from("one"), Arc::from("two")])
            .map_err(|(_, error)| error)?;
        let path = folder.path().join("media").join(&key[..2]).join(&key);
        assert!(path.is_file(), "stored at media/<2 hex>/<key>");
        let stored = disk.read(&key, 2).expect("a hit after writing");
        assert_eq!(&*stored[0], "one");
        assert_eq!(&*stored[1], "two");
        assert!(disk.read(&key, 3).is_none(), "wrong part count is a miss");
        Ok(())
    }
}
