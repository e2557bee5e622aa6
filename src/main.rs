//! The `centralita` binary: parses the command line and hands over to the library.

/// mimalloc instead of the system allocator: less CPU per allocation, and memory freed
/// by a short burst (a password hash holds 19 MiB while it runs) goes back to the
/// system instead of staying in a per-thread arena.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    centralita::cli::main()
}
