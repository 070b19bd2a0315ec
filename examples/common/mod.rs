//! Argument parsing shared by the examples: `--name value` pairs and `--flag`s, by hand.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

/// Parsed command-line arguments.
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
    program: String,
}

impl Args {
    /// Parses `std::env::args`, accepting the value options `with_value` and the flags
    /// `flags`; anything else is an error naming it, `--help` prints `usage` and exits.
    pub fn parse(usage: &str, with_value: &[&str], flags: &[&str]) -> Result<Args, String> {
        let mut it = std::env::args();
        let program = it.next().unwrap_or_default();
        let mut args = Args {
            values: HashMap::new(),
            flags: Vec::new(),
            program,
        };
        while let Some(a) = it.next() {
            if a == "--help" || a == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            let key = name.trim_start_matches("--");
            if !name.starts_with("--") {
                return Err(format!("unexpected argument {a:?}\n\n{usage}"));
            }
            if with_value.contains(&key) {
                let v = match inline {
                    Some(v) => v,
                    None => it.next().ok_or(format!("--{key} needs a value"))?,
                };
                args.values.insert(key.to_string(), v);
            } else if flags.contains(&key) && inline.is_none() {
                args.flags.push(key.to_string());
            } else {
                return Err(format!("unknown option {a:?}\n\n{usage}"));
            }
        }
        Ok(args)
    }

    /// The value of `--name`, parsed, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| format!("--{name} {v:?} is not valid: {e}")),
        }
    }

    /// The value of `--name` as a path, if given.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.values.get(name).map(PathBuf::from)
    }

    /// The value of `--name` as a string, if given.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

/// The repository root: relative (empty) when run from it, so printed paths stay short.
fn repo() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match std::env::current_dir() {
        Ok(d) if d == root => PathBuf::new(),
        _ => root,
    }
}

/// The repository's `data/` folder (the bundled scene).
pub fn data_dir() -> PathBuf {
    repo().join("data")
}

/// `target/example-out/<name>` under the repository, or `--output`.
pub fn out_dir(args: &Args, name: &str) -> PathBuf {
    args.path("output")
        .unwrap_or_else(|| repo().join("target").join("example-out").join(name))
}

/// Runs `main`, printing an error and exiting with status 1 on failure.
pub fn run(main: impl FnOnce() -> Result<(), String>) {
    if let Err(e) = main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
