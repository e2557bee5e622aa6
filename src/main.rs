//! The `centralita` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    tune_allocator();
    centralita::cli::main()
}

/// glibc's allocator, tuned for a server before any thread starts. By default it gives
/// every thread that allocates under contention an arena of its own (up to eight per
/// core) and keeps what each arena once held. Four arenas per core: fewer (two in all
/// were tried) made the runtime's workers and SQLite's connection threads queue for
/// the same arena's lock on most allocations and frees, about a tenth of the CPU of a
/// turn spent waiting and waking (README, "Performance"); eight held no more memory
/// than two in the load tests.
/// Large blocks (a password hash's 7 MiB) are mapped and returned to the system on
/// free instead of staying in an arena. `MALLOC_ARENA_MAX` and
/// `MALLOC_MMAP_THRESHOLD_` in the environment still win.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arenas = i32::try_from(cores.saturating_mul(4)).unwrap_or(i32::MAX);
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // thread exists, as glibc asks.
        unsafe {
            if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
            if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
            }
        }
    }
}
