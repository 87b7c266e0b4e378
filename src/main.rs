//! The `superlance` executable: everything happens in the library, which decides the exit
//! status once.
fn main() -> std::process::ExitCode {
    superlance::dispatch::main()
}
