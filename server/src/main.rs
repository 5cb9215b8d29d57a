fn main() -> std::process::ExitCode {
    outpost_server::cli::main()
}
