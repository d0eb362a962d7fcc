//! Embeds the sample benchmark (`assets/sample-benchmark/`, under 5 MB) into the binary, so
//! every command has a default benchmark on a fresh machine, offline, from any directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(directory: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("assets").join("sample-benchmark");
    println!("cargo::rerun-if-changed={}", root.display());
    // sqlx::migrate! only notices edits to migrations it already knows; a new file must rebuild.
    println!("cargo::rerun-if-changed=../migrations");
    let mut files = Vec::new();
    if root.is_dir() {
        collect(&root, &mut files)?;
    }
    files.sort();
    // A digest over names and contents names the extraction folder, so a new sample never
    // reuses an old extraction.
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    let mut table =
        String::from("/// Files of the embedded sample benchmark: (relative path, bytes).\n");
    table.push_str("pub(crate) const FILES: &[(&str, &[u8])] = &[\n");
    for file in &files {
        println!("cargo::rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(&root)?
            .to_string_lossy()
            .replace('\\', "/");
        for byte in relative.bytes().chain(std::fs::read(file)?) {
            // FNV-1a: only needs to tell versions apart, not resist attacks.
            digest ^= u64::from(byte);
            digest = digest.wrapping_mul(0x0100_0000_01b3);
        }
        writeln!(
            table,
            "    ({relative:?}, include_bytes!({:?})),",
            file.display().to_string()
        )?;
    }
    table.push_str("];\n");
    writeln!(
        table,
        "/// Digest of the embedded files.\npub(crate) const DIGEST: &str = \"{digest:016x}\";"
    )?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("sample_benchmark.rs");
    std::fs::write(out, table)?;
    Ok(())
}
