//! The `centralita` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    tune_allocator();
    centralita::cli::main()
}

/// glibc's allocator, tuned for a server before any thread starts. By default it gives
/// every thread that allocates under contention an arena of its own (up to eight per
/// core) and keeps what each arena once held: with the runtime's workers, SQLite's
/// connection threads and the blocking pool, a burst of concurrent calls left the
/// process holding several times the memory it needed. Two arenas, and large blocks
/// (a password hash's 7 MiB) mapped and returned to the system on free instead of
/// staying in an arena, keep memory close to what is in use. `MALLOC_ARENA_MAX` and
/// `MALLOC_MMAP_THRESHOLD_` in the environment still win.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // thread exists, as glibc asks.
        unsafe {
            if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
            if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
            }
        }
    }
}
