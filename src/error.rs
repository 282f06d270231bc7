//! Errors of the program, one variant per kind of failure, each with the exit
//! code the command line reports.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key is unknown, malformed or out of range.
    #[error("config key '{key}': {msg}")]
    Config { key: String, msg: String },
    /// A configuration file could not be parsed.
    #[error("config file {path}: {msg}")]
    ConfigFile { path: String, msg: String },
    /// Input data are unreadable or invalid (the message names the row or column).
    #[error("data {path}: {msg}")]
    Data { path: String, msg: String },
    /// A file given on the command line cannot be read.
    #[error("cannot read {path}: {source}")]
    Input { path: PathBuf, source: std::io::Error },
    /// A command-line flag is malformed (the message names the flag).
    #[error("{flag}: {msg}")]
    Usage { flag: String, msg: String },
    /// The output folder already holds results.
    #[error("output folder {path} already holds results ({file}); pass --force to replace them or choose another --out")]
    OutputExists { path: PathBuf, file: String },
    /// Writing results failed.
    #[error("cannot write {path}: {msg}")]
    Output { path: PathBuf, msg: String },
    /// The run went unstable.
    #[error("run stopped at t = {t:.6}: {cause}")]
    Unstable { t: f64, cause: String },
}

impl Error {
    pub fn config(key: &str, msg: impl Into<String>) -> Self {
        Error::Config { key: key.to_string(), msg: msg.into() }
    }
    pub fn usage(flag: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Usage { flag: flag.into(), msg: msg.into() }
    }
    pub fn output(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        Error::Output { path: path.into(), msg: e.to_string() }
    }
    /// 2 for bad input, 3 for an unstable run, 1 for failures to write.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. }
            | Error::ConfigFile { .. }
            | Error::Data { .. }
            | Error::Input { .. }
            | Error::Usage { .. }
            | Error::OutputExists { .. } => 2,
            Error::Unstable { .. } => 3,
            Error::Output { .. } => 1,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
