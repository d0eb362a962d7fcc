//! Running `ffmpeg` and `ffprobe`: argument conventions, error mapping, and the input file each
//! invocation reads (the media file itself, or a scratch copy of bytes from a parquet cell).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use omnireward_shared::MediaLocation;

use super::cache::unique_suffix;
use super::{MediaError, Source};

/// How many trailing lines of a failed program's standard error an error carries.
const STDERR_TAIL_LINES: usize = 8;

/// Whether both `ffmpeg` and `ffprobe` can be started; checked once at run start so a run that
/// needs video or audio fails before its first request rather than on every sample.
pub fn ffmpeg_available() -> bool {
    [Program::Ffmpeg, Program::Ffprobe]
        .into_iter()
        .all(|program| {
            Command::new(program.name())
                .arg("-version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
}

/// The two programs of the ffmpeg suite we call.
#[derive(Clone, Copy, Debug)]
pub(super) enum Program {
    Ffmpeg,
    Ffprobe,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Ffmpeg => "ffmpeg",
            Program::Ffprobe => "ffprobe",
        }
    }

    /// Flags placed before all others: quiet except for errors, never reading standard input.
    fn leading_arguments(self) -> &'static [&'static str] {
        match self {
            Program::Ffmpeg => &["-hide_banner", "-nostdin", "-loglevel", "error"],
            Program::Ffprobe => &["-hide_banner", "-loglevel", "error"],
        }
    }
}

/// Runs `program` with `arguments` and returns its standard output, mapping every failure to a
/// [`MediaError`] that names `media_name`.
pub(super) fn run(
    program: Program,
    arguments: &[OsString],
    media_name: &str,
) -> Result<Vec<u8>, MediaError> {
    let output = Command::new(program.name())
        .args(program.leading_arguments())
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                MediaError::FfmpegMissing {
                    name: media_name.to_owned(),
                    program: program.name(),
                }
            } else {
                MediaError::FfmpegStart {
                    name: media_name.to_owned(),
                    program: program.name(),
                    source,
                }
            }
        })?;
    if !output.status.success() {
        return Err(MediaError::FfmpegFailed {
            name: media_name.to_owned(),
            program: program.name(),
            status: output.status.to_string(),
            stderr: stderr_tail(&output.stderr),
        });
    }
    Ok(output.stdout)
}

fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
    if tail.is_empty() {
        "no error output".to_owned()
    } else {
        tail.join("; ")
    }
}

/// A file ffmpeg can read the source from; a scratch copy is deleted when this is dropped.
pub(super) struct InputFile {
    path: PathBuf,
    is_scratch_copy: bool,
}

impl InputFile {
    /// The media file itself, or (for parquet cells) its bytes written to `scratch_dir`. MP4 and
    /// similar containers need a seekable input, so bytes are never piped through stdin.
    pub(super) fn for_source(source: &Source<'_>, scratch_dir: &Path) -> Result<Self, MediaError> {
        if let MediaLocation::File { path } = &source.media.location {
            return Ok(InputFile {
                path: PathBuf::from(path),
                is_scratch_copy: false,
            });
        }
        let cache_error = |path: &Path, error: io::Error| MediaError::Cache {
            name: source.name().to_owned(),
            path: path.to_path_buf(),
            source: error,
        };
        std::fs::create_dir_all(scratch_dir).map_err(|error| cache_error(scratch_dir, error))?;
        let path = scratch_dir.join(format!(
            "input-{}.{}",
            unique_suffix(),
            extension(&source.media.name)
        ));
        std::fs::write(&path, &source.bytes).map_err(|error| cache_error(&path, error))?;
        Ok(InputFile {
            path,
            is_scratch_copy: true,
        })
    }

    /// The `-i` argument. The `file:` protocol prefix keeps names that contain `:` or start with
    /// `-` from being read as another protocol or an option.
    pub(super) fn argument(&self) -> OsString {
        let mut argument = OsString::from("file:");
        argument.push(self.path.as_os_str());
        argument
    }
}

impl Drop for InputFile {
    fn drop(&mut self) {
        if self.is_scratch_copy {
            // Best effort: a leftover scratch file wastes space but breaks nothing.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The extension of a media name, as a hint for ffmpeg's format probing; `bin` if it has none
/// or an unusual one.
fn extension(name: &str) -> &str {
    Path::new(name)
        .extension()
        .and_then(|extension| extension.to_str())
        .filter(|extension| {
            !extension.is_empty()
                && extension.len() <= 8
                && extension.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .unwrap_or("bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let stderr: String = (1..=20).map(|line| format!("line {line}\n")).collect();
        let tail = stderr_tail(stderr.as_bytes());
        assert!(tail.starts_with("line 13;"), "{tail}");
        assert!(tail.ends_with("line 20"), "{tail}");
        assert_eq!(stderr_tail(b""), "no error output");
    }

    #[test]
    fn extensions_are_sanitised() {
        assert_eq!(extension("audio/question.mp3"), "mp3");
        assert_eq!(extension("no-extension"), "bin");
        assert_eq!(extension("odd.e x t"), "bin");
    }

    #[test]
    fn ffmpeg_is_available_on_test_machines() {
        assert!(ffmpeg_available(), "install ffmpeg to run the media tests");
    }
}
