//! The `omnireward` binary: a thin shim over the library's CLI.

// glibc's malloc hands every large tensor buffer back to the kernel and faults it in again on the
// next operation; mimalloc keeps freed blocks for reuse (docs/benchmarks.md, "Local checkpoints on
// the CPU": 10-25 % of a CPU scoring pass).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    omnireward::cli::run()
}
