//! The `rask` command-line tool; everything is in [`rask::cli::run_with`].

fn main() {
    // Ctrl-C cancels the run: it stops after the running tasks and commits no output (exit
    // 130). A second Ctrl-C exits at once.
    let token = rask::CancelToken::new();
    let handler = token.clone();
    let _ = ctrlc::set_handler(move || {
        if handler.is_cancelled() {
            std::process::exit(130);
        }
        handler.cancel();
    });
    let code = rask::cli::run_with(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        token,
    );
    std::process::exit(code);
}
