//! Safe extraction of a zip archive (the release's `media_data.zip`) into a folder: every entry
//! name is checked to stay inside it (no absolute paths, `..`, `\` or drive letters), links are
//! refused, the entry count and the bytes written are capped (a small archive may declare or
//! inflate to terabytes), and everything is written under a temporary folder first and renamed
//! into place at the end, so an archive refused halfway leaves nothing behind. Blocking.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::HubError;
use super::client::check_file_path;

/// What an archive may hold.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveLimits {
    /// Entries (files and folders).
    pub max_entries: usize,
    /// Bytes written, all files together.
    pub max_bytes: u64,
}

impl Default for ArchiveLimits {
    /// Generous for the release (about 3.5 GB of media in tens of thousands of files).
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 1_000_000,
            max_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}

/// Extracts `archive` into `destination`; returns the top-level names it put there. A name that
/// already exists in `destination` is replaced (an earlier extraction of the same archive).
pub fn extract(
    archive: &Path,
    destination: &Path,
    limits: ArchiveLimits,
) -> Result<Vec<String>, HubError> {
    let refused = |entry: &str, reason: String| HubError::Archive {
        archive: archive.to_owned(),
        entry: entry.to_owned(),
        reason,
    };
    let file = std::fs::File::open(archive).map_err(HubError::io(archive))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|error| refused("", format!("not a readable zip archive: {error}")))?;
    if zip.len() > limits.max_entries {
        return Err(refused(
            "",
            format!(
                "{} entries, more than the {} allowed",
                zip.len(),
                limits.max_entries
            ),
        ));
    }
    let staging = staging_folder(archive, destination);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(HubError::io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(HubError::io(&staging))?;
    let result = extract_into(&mut zip, &staging, limits, &refused);
    let top_level = match result {
        Ok(top_level) => top_level,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    for name in &top_level {
        let target = destination.join(name);
        if target.is_dir() {
            std::fs::remove_dir_all(&target).map_err(HubError::io(&target))?;
        } else if target.exists() {
            std::fs::remove_file(&target).map_err(HubError::io(&target))?;
        }
        let staged = staging.join(name);
        std::fs::rename(&staged, &target).map_err(HubError::io(&target))?;
    }
    std::fs::remove_dir_all(&staging).map_err(HubError::io(&staging))?;
    Ok(top_level)
}

/// `<destination>/.extracting-<archive name>`: on the same file system, so renames are cheap.
fn staging_folder(archive: &Path, destination: &Path) -> PathBuf {
    let name = archive
        .file_name()
        .map_or_else(|| "archive".into(), |name| name.to_string_lossy());
    destination.join(format!(".extracting-{name}"))
}

fn extract_into<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    staging: &Path,
    limits: ArchiveLimits,
    refused: &dyn Fn(&str, String) -> HubError,
) -> Result<Vec<String>, HubError> {
    let mut written: u64 = 0;
    let mut top_level = std::collections::BTreeSet::new();
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|error| refused(&format!("#{index}"), error.to_string()))?;
        let name = entry
            .name()
            .map_err(|error| refused(&format!("#{index}"), error.to_string()))?
            .into_owned();
        let relative = name.trim_end_matches('/');
        check_file_path(relative).map_err(|reason| refused(&name, reason.to_owned()))?;
        let is_link = entry.is_symlink()
            || entry
                .unix_mode()
                .is_some_and(|mode| mode & 0o170_000 == 0o120_000);
        if is_link {
            return Err(refused(&name, "links are not extracted".to_owned()));
        }
        if let Some(first) = relative.split('/').next() {
            top_level.insert(first.to_owned());
        }
        let path = staging.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(HubError::io(&path))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(HubError::io(parent))?;
        }
        let remaining = limits.max_bytes - written;
        if entry.size() > remaining {
            return Err(refused(
                &name,
                format!(
                    "the archive would write more than {} bytes",
                    limits.max_bytes
                ),
            ));
        }
        // `create_new`: an entry listed twice is refused rather than overwritten.
        let mut output = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|error| refused(&name, format!("cannot create the file: {error}")))?;
        // The declared size may lie; what is inflated is capped on its own.
        let copied = std::io::copy(&mut (&mut entry).take(remaining + 1), &mut output)
            .map_err(|error| refused(&name, format!("cannot extract: {error}")))?;
        if copied > remaining {
            return Err(refused(
                &name,
                format!(
                    "the archive would write more than {} bytes",
                    limits.max_bytes
                ),
            ));
        }
        written += copied;
    }
    Ok(top_level.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn archive(folder: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = folder.join("media_data.zip");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).expect("creates"));
        for (name, bytes) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .expect("starts");
            writer.write_all(bytes).expect("writes");
        }
        writer.finish().expect("finishes");
        path
    }

    #[test]
    fn entries_land_inside_the_folder() {
        let folder = tempfile::TempDir::new().expect("folder");
        let path = archive(
            folder.path(),
            &[("media_data/a/x.png", b"png"), ("media_data/b.wav", b"wav")],
        );
        let destination = folder.path().join("out");
        std::fs::create_dir_all(&destination).expect("creates");
        let top = extract(&path, &destination, ArchiveLimits::default()).expect("extracts");
        assert_eq!(top, vec!["media_data".to_owned()]);
        assert_eq!(
            std::fs::read(destination.join("media_data/a/x.png")).expect("reads"),
            b"png"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&destination)
            .expect("lists")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec!["media_data"], "no staging folder is left");
    }

    #[test]
    fn entries_leaving_the_folder_are_refused_and_nothing_is_kept() {
        let folder = tempfile::TempDir::new().expect("folder");
        for bad in [
            "../escape.txt",
            "media_data/../../escape.txt",
            "/etc/escape.txt",
        ] {
            let path = archive(folder.path(), &[("media_data/ok.txt", b"ok"), (bad, b"x")]);
            let destination = folder.path().join("out");
            std::fs::create_dir_all(&destination).expect("creates");
            let error = extract(&path, &destination, ArchiveLimits::default())
                .expect_err("refused")
                .to_string();
            assert!(error.contains(bad), "{error}");
            assert_eq!(
                std::fs::read_dir(&destination).expect("lists").count(),
                0,
                "nothing is kept after {bad}"
            );
            assert!(!folder.path().join("escape.txt").exists());
        }
    }

    #[test]
    fn links_and_oversized_archives_are_refused() {
        let folder = tempfile::TempDir::new().expect("folder");
        let path = folder.path().join("links.zip");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).expect("creates"));
        writer
            .add_symlink(
                "media_data/link",
                "/etc/passwd",
                SimpleFileOptions::default(),
            )
            .expect("adds");
        writer.finish().expect("finishes");
        let destination = folder.path().join("out");
        std::fs::create_dir_all(&destination).expect("creates");
        let error = extract(&path, &destination, ArchiveLimits::default()).expect_err("refused");
        assert!(error.to_string().contains("links"), "{error}");

        let path = archive(folder.path(), &[("a", &[0; 100]), ("b", &[0; 100])]);
        let limits = ArchiveLimits {
            max_entries: 10,
            max_bytes: 150,
        };
        let error = extract(&path, &destination, limits).expect_err("refused");
        assert!(error.to_string().contains("more than 150 bytes"), "{error}");
        let limits = ArchiveLimits {
            max_entries: 1,
            max_bytes: 1000,
        };
        let error = extract(&path, &destination, limits).expect_err("refused");
        assert!(error.to_string().contains("2 entries"), "{error}");
    }
}
