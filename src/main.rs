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
    /// Train a finite ResNet (S layers of M neurons) by gradient descent with the
    /// mean-field scaling and write the same files as `run`, plus particle positions.
    Particles {
        #[command(flatten)]
        common: Common,
        /// Neurons per residual layer, M.
        #[arg(long)]
        width: usize,
        /// Neurons of the output layer (default: --width).
        #[arg(long)]
        out_width: Option<usize>,
        /// Seed of the initial particles.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "out/particles")]
        out: PathBuf,
        /// Replace results already in the output folder.
        #[arg(long)]
        force: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Run the grid solver and check the claims of the mean-field theory (PASS/FAIL per claim, theory.json).
    Theory {
        #[command(flatten)]
        common: Common,
        /// Output folder.
        #[arg(long, default_value = "out/theory")]
        out: PathBuf,
        /// Replace results already in the output folder.
        #[arg(long)]
        force: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Cross-validate: the grid solver once, the particle solver for every width and
    /// seed; discrepancies per width and their fitted slopes against M (exit 4 if
    /// one does not fall with M).
    Compare {
        #[command(flatten)]
        common: Common,
        /// Widths M (comma-separated, at least two).
        #[arg(long, default_value = "64,256,1024,4096")]
        widths: String,
        /// Seeds per width.
        #[arg(long, default_value_t = 5)]
        seeds: usize,
        /// First seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
        /// Replace results already in the output folder.
        #[arg(long)]
        force: bool,
        /// No progress lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a grid of configurations (or emit/collect it for a batch system); sweep.csv and slopes.
    Sweep {
        #[command(flatten)]
        common: Common,
        /// A ranged key, e.g. --set-range model.beta=0.5,1,2 (repeatable; the product is swept).
        #[arg(long = "set-range", value_name = "KEY=V1,V2,...")]
        set_range: Vec<String>,
        /// Output folder (default out/sweep; with --collect, DIR/collected).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace results already in the output folder.
        #[arg(long)]
        force: bool,
        /// Points run at once (default: cores, capped by memory).
        #[arg(long)]
        jobs: Option<usize>,
        /// Write one config per point and a manifest into DIR instead of running.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["collect", "jobs", "out"])]
        emit: Option<PathBuf>,
        /// Assemble sweep.csv from the output folders of an emitted sweep.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["set_range", "jobs", "config", "set"])]
        collect: Option<PathBuf>,
        /// No per-point progress lines.
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
        Command::Particles { common, width, out_width, seed, out, force, quiet } => {
            let spec = mfres::particles::ParticleSpec { width, out_width: out_width.unwrap_or(width), seed };
            load(&common).and_then(|c| mfres::cli::particles(c, spec, &out, force, quiet))
        }
        Command::Compare { common, widths, seeds, seed, out, force, quiet } => mfres::cli::parse_widths(&widths)
            .and_then(|w| load(&common).map(|c| (w, c)))
            .and_then(|(w, c)| mfres::cli::compare(c, &w, seeds, seed, &out, force, quiet)),
        Command::Theory { common, out, force, quiet } => {
            load(&common).and_then(|c| mfres::theory::command(c, &out, force, quiet))
        }
        Command::Sweep { common, set_range, out, force, jobs, emit, collect, quiet } => {
            let base = common.config.as_deref();
            match (emit, collect) {
                (Some(dir), _) => mfres::sweep::emit(base, &common.set, &set_range, &dir, force),
                (_, Some(dir)) => mfres::sweep::collect(&dir, out.as_deref(), force),
                _ => {
                    let out = out.unwrap_or_else(|| PathBuf::from("out/sweep"));
                    mfres::sweep::command(base, &common.set, &set_range, &out, force, jobs, quiet)
                }
            }
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
