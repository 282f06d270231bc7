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
    /// A command-line option has a bad value or does not fit the configuration.
    #[error("option {flag}: {msg}")]
    Flag { flag: String, msg: String },
    /// A file given on the command line cannot be read.
    #[error("cannot read {path}: {source}")]
    Input { path: PathBuf, source: std::io::Error },
    /// The output folder already holds results.
    #[error("output folder {path} already holds results ({file}); pass --force to replace them or choose another --out")]
    OutputExists { path: PathBuf, file: String },
    /// The output path is an existing file.
    #[error("output path {path} is a file, not a folder; choose another --out")]
    OutputNotFolder { path: PathBuf },
    /// Writing results failed.
    #[error("cannot write {path}: {msg}")]
    Output { path: PathBuf, msg: String },
    /// Grid and particle solutions do not converge to each other.
    #[error("cross-validation failed: {0}")]
    CrossValidation(String),
    /// The run went unstable.
    #[error("run stopped at t = {t:.6}: {cause}")]
    Unstable { t: f64, cause: String },
    /// Points of a sweep went unstable, failed or have no results (all files written).
    #[error("{failed} of {total} sweep points did not reach t_end: {points}")]
    SweepIncomplete { failed: usize, total: usize, points: String },
}

impl Error {
    pub fn config(key: &str, msg: impl Into<String>) -> Self {
        Error::Config { key: key.to_string(), msg: msg.into() }
    }
    pub fn flag(flag: &str, msg: impl Into<String>) -> Self {
        Error::Flag { flag: flag.to_string(), msg: msg.into() }
    }
    pub fn output(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        Error::Output { path: path.into(), msg: e.to_string() }
    }
    /// 2 for bad input, 3 for an unstable run (or sweep points that did not reach
    /// t_end), 4 for a failed cross-validation,
    /// 1 for failures to write.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. }
            | Error::ConfigFile { .. }
            | Error::Data { .. }
            | Error::Flag { .. }
            | Error::Input { .. }
            | Error::OutputExists { .. }
            | Error::OutputNotFolder { .. } => 2,
            Error::Unstable { .. } | Error::SweepIncomplete { .. } => 3,
            Error::CrossValidation(_) => 4,
            Error::Output { .. } => 1,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
