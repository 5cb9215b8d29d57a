//! The server binary for the cross-component tests: the same entry point as
//! `outpost-server` (a test package can only locate binaries it builds itself).

fn main() -> std::process::ExitCode {
    outpost_server::cli::main()
}
