//! The `mfres` command line: parse, validate, dispatch; exit code 2 for bad
//! input, 3 for a run that went unstable.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use mfres::config::Config;
use mfres::error::Error;

#[derive(Parser)]
#[command(name = "mfres", version, about = "Mean-field training dynamics of deep ResNets, solved on grids")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Configuration file (TOML); without it the built-in default runs.
    config: Option<PathBuf>,
    /// Override a key, e.g. --set model.beta=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the grid solver and write the time series, summary, predictions and snapshots.
    Run {
        #[command(flatten)]
        common: Common,
        /// Output folder.
        #[arg(long, default_value = "out/run")]
        out: PathBuf,
        /// Replace results already in the output folder.
        #[arg(long)]
        force: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Print G1, G2 and the eigenvalues of G at initialisation as JSON.
    Gram {
        #[command(flatten)]
        common: Common,
    },
    /// Refinement study: errors and observed orders in cells, dt or depth.
    Order {
        #[command(flatten)]
        common: Common,
        /// What to refine: cells, dt or depth.
        #[arg(long)]
        vary: String,
        /// Number of levels (≥ 2).
        #[arg(long)]
        levels: usize,
        /// Refinement ratio per level.
        #[arg(long, default_value_t = 2.0)]
        ratio: f64,
        /// Schemes, optionally with an integrator: fv1,fv2,spectral/rk4 (default: the config's).
        #[arg(long)]
        schemes: Option<String>,
        /// finest, richardson or exact.
        #[arg(long, default_value = "finest")]
        reference: String,
        /// Output folder.
        #[arg(long, default_value = "out/order")]
        out: PathBuf,
        /// Replace results already in the output folder.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { common, out, force, quiet } => {
            load(&common).and_then(|c| mfres::cli::run(c, &out, force, quiet))
        }
        Command::Gram { common } => load(&common).and_then(mfres::cli::gram),
        Command::Order { common, vary, levels, ratio, schemes, reference, out, force } => {
            let args = mfres::order::OrderArgs { vary, levels, ratio, schemes, reference };
            load(&common).and_then(|c| mfres::order::command(c, &args, &out, force))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn load(common: &Common) -> Result<Config, Error> {
    Config::load(common.config.as_deref(), &common.set)
}
