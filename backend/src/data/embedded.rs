//! The sample benchmark compiled into the binary: nine tasks, 12-20 samples each, real media,
//! in the Hugging Face layout (see `backend/assets/sample-benchmark/README.md`).
//!
//! It is written out once to a cache folder and then read by the ordinary parquet loader, so
//! the default benchmark exercises exactly the code that reads the real release.

use std::path::{Path, PathBuf};

use super::{Benchmark, LoadError, LoadOptions};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/sample_benchmark.rs"));
}

/// Name recorded for the embedded sample.
pub const NAME: &str = "omni-rewardbench-sample";

/// Version recorded for the embedded sample.
pub const VERSION: &str = "1";

/// Writes the embedded files under `cache_dir` (once per version) and returns the folder.
pub fn extract(cache_dir: &Path) -> Result<PathBuf, LoadError> {
    if generated::FILES.is_empty() {
        return Err(LoadError::NoBenchmark {
            root: PathBuf::from("<embedded sample benchmark: not built into this binary>"),
        });
    }
    let target = cache_dir.join(format!("sample-benchmark-{}", generated::DIGEST));
    let marker = target.join(".complete");
    if marker.is_file() {
        return Ok(target);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    // Write into a private folder and rename it into place, so a concurrent or interrupted
    // extraction never leaves a half-written benchmark behind the final name.
    let staging = cache_dir.join(format!(
        ".sample-benchmark-{}-{}",
        generated::DIGEST,
        std::process::id()
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    for (relative, bytes) in generated::FILES {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    std::fs::write(staging.join(".complete"), generated::DIGEST).map_err(io(&staging))?;
    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Another process finished first: use its copy.
        Err(_) if marker.is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(source) => Err(LoadError::Io {
            path: target,
            source,
        }),
    }
}

/// Loads the embedded sample benchmark, extracting it under `cache_dir` if needed.
pub fn load(cache_dir: &Path, options: &LoadOptions) -> Result<Benchmark, LoadError> {
    let root = extract(cache_dir)?;
    let options = LoadOptions {
        name: Some(options.name.clone().unwrap_or_else(|| NAME.to_owned())),
        version: Some(
            options
                .version
                .clone()
                .unwrap_or_else(|| VERSION.to_owned()),
        ),
        ..options.clone()
    };
    super::load(&root, &options)
}
