//! The `rask` command-line tool; everything is in [`rask::cli::run`].

fn main() {
    let code = rask::cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
