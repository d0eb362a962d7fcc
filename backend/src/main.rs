//! The `omnireward` binary: a thin shim over the library's CLI.

fn main() -> std::process::ExitCode {
    omnireward::cli::run()
}
