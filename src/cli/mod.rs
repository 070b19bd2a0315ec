//! The `rask` command-line tool: raster information, statistics, band math and conversion
//! over Zarr, `.npy` and GeoTIFF files, out of core.
//!
//! [`run`] is the whole program (the binary `src/bin/rask.rs` only calls it), so tests run
//! commands in-process and read what they print:
//!
//! ```
//! let mut out = Vec::new();
//! let mut err = Vec::new();
//! let code = rask::cli::run(["rask", "--version"], &mut out, &mut err);
//! assert_eq!(code, 0);
//! assert!(String::from_utf8(out.clone()).unwrap().starts_with("rask "));
//! let code = rask::cli::run(["rask", "stats", "/no/such.zarr"], &mut out, &mut err);
//! assert_eq!(code, 1);
//! assert!(String::from_utf8(err).unwrap().contains("/no/such.zarr"));
//! ```
//!
//! Exit codes: 0 success, 1 an error while running (bad input file, bad expression), 2 a
//! usage error (unknown option, missing argument), 130 interrupted.

mod commands;
pub mod raster;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::{Args, Parser, Subcommand};

pub use raster::{AnyArray, Format, Output, OutputCompression, Raster, parse_dtype};

use crate::error::{Error, Result};
use crate::exec::{CancelToken, Config};

/// Chunked, out-of-core raster tool: info, statistics, band math and conversion over
/// Zarr, .npy and GeoTIFF, in a fixed memory budget.
#[derive(Parser)]
#[command(
    name = "rask",
    version,
    propagate_version = true,
    after_help = "Examples:\n  rask info scene.zarr\n  rask stats scene.zarr --json\n  \
                  rask calc \"(nir - red) / (nir + red)\" -i nir=b8.zarr -i red=b4.zarr -o ndvi.zarr\n  \
                  rask convert image.npy image.zarr --chunks 512,512\n  \
                  rask preview scene.tif -o quicklook.png --bands 3,2,1\n  \
                  rask sample data/ --size 2048"
)]
struct Cli {
    #[command(flatten)]
    run: RunOptions,
    #[command(subcommand)]
    command: Command,
}

/// The options every command takes: the memory budget, the threads, and quiet; and the
/// token that Ctrl-C cancels.
#[derive(Clone, Default, Args)]
pub struct RunOptions {
    /// Memory budget for blocks, such as 512MiB or 4GB [default: RASK_MEMORY_LIMIT, else
    /// half the machine's memory]
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_memory)]
    pub memory_limit: Option<usize>,
    /// Worker threads [default: one per core]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// No progress bar
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Cancelled to stop the run (the binary's Ctrl-C handler does): the command then
    /// exits with 130 and writes no output.
    #[arg(skip)]
    pub cancel: Option<CancelToken>,
}

fn parse_memory(s: &str) -> std::result::Result<usize, String> {
    crate::parse_bytes(s).map_err(|e| e.to_string())
}

impl RunOptions {
    /// The [`Config`] these options ask for: the one place the command line turns into a
    /// run configuration. A progress bar is drawn only when `--quiet` is not given and
    /// stderr is a terminal.
    ///
    /// ```
    /// use rask::cli::RunOptions;
    /// let o = RunOptions { memory_limit: Some(64 << 20), threads: Some(2), quiet: true, ..Default::default() };
    /// let cfg = o.config();
    /// assert_eq!((cfg.num_threads(), cfg.effective_memory_limit()?), (2, 64 << 20));
    /// assert!(!cfg.shows_progress());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn config(&self) -> Config {
        let mut cfg = Config::default();
        if let Some(m) = self.memory_limit {
            cfg = cfg.memory_limit(m);
        }
        if let Some(t) = self.threads {
            cfg = cfg.threads(t as usize);
        }
        if let Some(token) = &self.cancel {
            cfg = cfg.cancel_token(token.clone());
        }
        cfg.progress(self.show_progress())
    }

    /// Whether a progress bar is drawn: not with `--quiet`, nor when stderr is not a terminal.
    pub fn show_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

#[derive(Subcommand)]
enum Command {
    Info(commands::InfoArgs),
    Stats(commands::StatsArgs),
    Calc(commands::CalcArgs),
    Convert(commands::ConvertArgs),
    Preview(commands::PreviewArgs),
    Sample(commands::SampleArgs),
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Info(_) => "info",
            Command::Stats(_) => "stats",
            Command::Calc(_) => "calc",
            Command::Convert(_) => "convert",
            Command::Preview(_) => "preview",
            Command::Sample(_) => "sample",
        }
    }
}

/// Runs the `rask` program with `args` (the first is the program name, as in
/// `std::env::args_os()`), writing results to `out` and messages to `err`; returns the exit
/// code. Never panics on bad input: usage errors exit with 2, run errors with 1 and one line
/// on `err` that names the command and the offending value (a parse error adds the
/// expression with a caret under the column).
pub fn run<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    run_with(args, out, err, CancelToken::new())
}

/// [`run`] with a [`CancelToken`] that stops the command when cancelled (the binary cancels
/// it on Ctrl-C): the run stops after the running tasks, no output is committed, and the
/// exit code is 130.
///
/// ```
/// let token = rask::CancelToken::new();
/// token.cancel();
/// let dir = std::env::temp_dir().join(format!("rask-doc-cancel-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let input = dir.join("x.npy");
/// rask::ChunkedArray::<f64>::ones(&[100, 100], &[10, 100]).to_npy(&input)?;
/// let output = dir.join("y.zarr");
/// let args = ["rask", "convert", input.to_str().unwrap(), output.to_str().unwrap()];
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// assert_eq!(rask::cli::run_with(args, &mut out, &mut err, token), 130);
/// assert!(!output.exists());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_with<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write, cancel: CancelToken) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let mut cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = write!(out, "{text}");
                    0
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = write!(err, "{text}");
                    2
                }
                _ => {
                    // clap's first paragraph (the message and what it names), on one line.
                    let first: Vec<&str> = text
                        .lines()
                        .map(str::trim)
                        .skip_while(|l| l.is_empty())
                        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
                        .collect();
                    let first = first.join(" ");
                    let first = first.trim_start_matches("error: ");
                    let _ = writeln!(err, "rask: error: {first} (see rask --help)");
                    2
                }
            };
        }
    };
    cli.run.cancel = Some(cancel);
    let name = cli.command.name();
    let result = match &cli.command {
        Command::Info(a) => commands::info(a, &cli.run, out),
        Command::Stats(a) => commands::stats(a, &cli.run, out),
        Command::Calc(a) => commands::calc(a, &cli.run, out),
        Command::Convert(a) => commands::convert(a, &cli.run, out),
        Command::Preview(a) => commands::preview(a, &cli.run, out),
        Command::Sample(a) => commands::sample(a, &cli.run, out),
    };
    match result {
        Ok(()) => 0,
        Err(Error::Cancelled) => {
            let _ = writeln!(err, "rask {name}: interrupted; no output was written");
            130
        }
        Err(e @ Error::Parse { .. }) => {
            let _ = writeln!(err, "rask {name}: error: {e}");
            1
        }
        Err(e) => {
            // One line: multi-line messages from below (codec errors) are joined.
            let text = e.to_string().replace('\n', "; ");
            // "rask calc: error: calc: ..." says the command twice.
            let text = text.strip_prefix(&format!("{name}: ")).unwrap_or(&text);
            let _ = writeln!(err, "rask {name}: error: {text}");
            1
        }
    }
}

/// Returns an error unless `r` holds (a helper for argument checks).
pub(crate) fn ensure(ok: bool, op: &str, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::arg(op, message()))
    }
}
