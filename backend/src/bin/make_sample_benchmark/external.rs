//! Running the external programs the generator relies on (`ffmpeg` for video
//! and MP3/WAV conversion, `espeak-ng` for speech) and the scratch directory
//! they write their intermediate files into.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Flags that make ffmpeg's output depend only on its input: one thread (so
/// encoder decisions do not depend on scheduling), bit-exact muxers and codecs
/// (no version strings) and no metadata copied from the input.
const FFMPEG_DETERMINISM_FLAGS: [&str; 10] = [
    "-threads",
    "1",
    "-fflags",
    "+bitexact",
    "-flags:v",
    "+bitexact",
    "-flags:a",
    "+bitexact",
    "-map_metadata",
    "-1",
];

/// Fails with an installation hint when a required program cannot be started.
pub fn require_programs() -> Result<()> {
    for (program, version_flag) in [("ffmpeg", "-version"), ("espeak-ng", "--version")] {
        let status = Command::new(program)
            .arg(version_flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => bail!(
                "`{program} {version_flag}` failed ({status}); is {program} installed correctly?"
            ),
            Err(error) => bail!(
                "cannot run `{program}` ({error}); the sample benchmark needs ffmpeg and espeak-ng \
                 on PATH (Debian/Ubuntu: `apt-get install ffmpeg espeak-ng`)"
            ),
        }
    }
    Ok(())
}

/// Runs a command to completion, turning a non-zero exit into an error that
/// carries the program's stderr.
pub fn run(command: &mut Command) -> Result<()> {
    let description = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {description}"))?;
    if !output.status.success() {
        bail!(
            "{description} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts an ffmpeg command that overwrites its output, logs only errors and
/// reads `input`.
pub fn ffmpeg_reading(input: &Path) -> Command {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-nostdin", "-y", "-hide_banner", "-loglevel", "error"])
        .arg("-i")
        .arg(input);
    command
}

/// Appends the determinism flags and the output path to an ffmpeg command.
pub fn finish_ffmpeg(command: &mut Command, output: &Path) {
    command.args(FFMPEG_DETERMINISM_FLAGS).arg(output);
}

/// A private temporary directory, removed when dropped, for intermediate
/// files (raw frames, espeak-ng WAVs, encoder outputs).
pub struct ScratchDirectory {
    path: PathBuf,
    next_file_number: u32,
}

impl ScratchDirectory {
    pub fn create() -> Result<ScratchDirectory> {
        let path =
            std::env::temp_dir().join(format!("make-sample-benchmark-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing stale scratch directory {}", path.display()))?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating scratch directory {}", path.display()))?;
        Ok(ScratchDirectory {
            path,
            next_file_number: 0,
        })
    }

    /// A fresh file path with the given extension; numbering keeps the
    /// intermediate files of different media apart.
    pub fn file(&mut self, extension: &str) -> PathBuf {
        self.next_file_number += 1;
        self.path
            .join(format!("scratch-{:04}.{extension}", self.next_file_number))
    }
}

impl Drop for ScratchDirectory {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is harmless and there
        // is no way to report an error from drop.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Reads a file an external program produced.
pub fn read_output(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
