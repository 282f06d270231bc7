//! Configuration: a TOML document (serde, unknown keys rejected) with `--set
//! section.key=value` overrides, validated into typed settings before any work.
//!
//! Every key has a default, so an empty file is the default run (`configs/default.toml`
//! lists them all). [`Config::validate`] checks every range and names the key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eulerian::Scheme;
use crate::fv::{Limiter, Reconstruction};
use crate::model::{Activation, Block, Network};
use crate::spectral::Filter;
use crate::time::Tableau;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub grid: GridConfig,
    pub time: TimeConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// "builtin", "csv:PATH" or "circle".
    pub source: String,
    /// Fraction of the data held out as the test set.
    pub test_fraction: f64,
    pub seed: u64,
    /// Number of training points (0: all points left after the test split).
    pub n_train: usize,
    /// How the training points are chosen from those left: "random" or "spread"
    /// (evenly spaced in the order of x1).
    pub selection: String,
    /// Rows with identical inputs: "keep" or "average" (one row, mean target).
    pub duplicates: String,
    /// Standardise x (per coordinate) and y to mean 0, standard deviation 1.
    pub standardise: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub d: usize,
    pub activation: String,
    pub alpha: f64,
    pub beta: f64,
    pub eta_rho: f64,
    pub eta_nu: f64,
    pub resnet_bias: bool,
    pub output_bias: bool,
    pub init_std_rho: f64,
    pub init_std_nu: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GridConfig {
    /// Cells per dimension of the ρ grids.
    pub cells: usize,
    /// Cells per dimension of the ν grid (0: same as `cells`).
    pub cells_nu: usize,
    /// Half width R of the box, in units of the initial standard deviation.
    pub half_width: f64,
    /// Number of depth slices S.
    pub depth: usize,
    /// "fv1", "fv2" or "spectral".
    pub scheme: String,
    /// Filter of the spectral scheme: "none", "two_thirds" or "exponential".
    pub filter: String,
    /// Slope limiter of fv2: "minmod", "vanleer" or "mc".
    pub limiter: String,
    /// Warn when the mass that left a box exceeds this.
    pub outflow_warning: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    pub t_end: f64,
    /// "euler", "ssprk3", "ssprk43" or "rk4".
    pub integrator: String,
    /// Target CFL number of the adaptive step.
    pub cfl: f64,
    /// Fixed step (0: adaptive from `cfl`).
    pub dt: f64,
    /// Largest adaptive step (0: no limit beyond the output times).
    pub dt_max: f64,
    /// Interval between output times.
    pub output_every: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: DataConfig::default(),
            model: ModelConfig::default(),
            grid: GridConfig::default(),
            time: TimeConfig::default(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: "builtin".into(),
            test_fraction: 0.25,
            seed: 1,
            n_train: 10,
            selection: "spread".into(),
            duplicates: "average".into(),
            standardise: true,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            d: 1,
            activation: "tanh".into(),
            alpha: 1.0,
            beta: 1.0,
            eta_rho: 1.0,
            eta_nu: 1.0,
            resnet_bias: false,
            output_bias: true,
            init_std_rho: 1.0,
            init_std_nu: 1.0,
        }
    }
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            cells: 48,
            cells_nu: 80,
            half_width: 5.0,
            depth: 8,
            scheme: "fv2".into(),
            filter: "none".into(),
            limiter: "vanleer".into(),
            outflow_warning: 1e-3,
        }
    }
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig { t_end: 10.0, integrator: "ssprk43".into(), cfl: 0.9, dt: 0.0, dt_max: 0.0, output_every: 0.5 }
    }
}

/// Where the data come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    Builtin,
    Csv(String),
    Circle,
}

/// Which solver a configuration is validated for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Solver {
    Grid,
    Particles,
}

/// Validated, typed settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub source: DataSource,
    pub activation: Activation,
    pub scheme: Scheme,
    pub tableau: Tableau,
    pub k_rho: usize,
    pub k_nu: usize,
    pub cells_nu: usize,
}

/// Largest admissible CFL number. Finite volumes: the limit that keeps densities
/// ≥ 0, the forward-Euler limit of the reconstruction times the SSP coefficient
/// (methods without one get the forward-Euler limit and no guarantee). Spectral:
/// the method's imaginary-axis stability bound (dt × κ_max Σ_j max|v_j|).
pub fn cfl_limit(scheme: Scheme, tableau: &Tableau) -> f64 {
    match scheme {
        Scheme::Fv(recon) => recon.positivity_cfl() * if tableau.ssp > 0.0 { tableau.ssp } else { 1.0 },
        Scheme::Spectral(_) => tableau.imaginary_stability,
    }
}

/// What the CFL limit of a scheme protects, for messages.
pub fn cfl_limit_kind(scheme: Scheme) -> &'static str {
    if scheme.is_spectral() { "stability limit" } else { "positivity limit" }
}

impl Settings {
    pub fn cfl_limit(&self) -> f64 {
        cfl_limit(self.scheme, &self.tableau)
    }
}

/// Estimated memory of a run with `cells` grid cells in all: 8 bytes × 12 state-sized
/// buffers (state, stages, scratch, face velocities) per cell.
pub fn memory_bytes(cells: f64) -> f64 {
    cells * 8.0 * 12.0
}

impl Config {
    /// Estimated memory of the run, in bytes (call after `validate`).
    pub fn memory_estimate(&self, settings: &Settings) -> f64 {
        let g = &self.grid;
        let cells = (g.depth as f64) * (g.cells as f64).powi(settings.k_rho as i32)
            + (settings.cells_nu as f64).powi(settings.k_nu as i32);
        memory_bytes(cells)
    }
}

fn one_line(msg: &str) -> String {
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses the right-hand side of `--set key=value` as a TOML value; a bare word
/// that is not valid TOML is taken as a string (`--set model.activation=erf`).
fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

impl Config {
    /// Reads a config file (or the defaults when `path` is None) and applies overrides.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config> {
        let (mut table, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::Input { path: p.to_path_buf(), source: e })?;
                let t: toml::Table = text
                    .parse()
                    .map_err(|e: toml::de::Error| Error::ConfigFile { path: p.display().to_string(), msg: one_line(e.message()) })?;
                (t, p.display().to_string())
            }
            None => (toml::Table::new(), "built-in defaults".to_string()),
        };
        let origin = if overrides.is_empty() { origin } else { format!("{origin} with --set overrides") };
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .ok_or_else(|| Error::config(o, "expected --set section.key=value"))?;
            let key = key.trim();
            let (section, field) = key
                .split_once('.')
                .ok_or_else(|| Error::config(key, "expected section.key (e.g. model.beta)"))?;
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let sec = entry
                .as_table_mut()
                .ok_or_else(|| Error::config(section, "is not a section"))?;
            sec.insert(field.to_string(), parse_value(value.trim()));
        }
        Self::from_table(table, &origin)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Config> {
        for (section, value) in &table {
            if !["data", "model", "grid", "time"].contains(&section.as_str()) {
                return Err(Error::config(section, "unknown section (expected data, model, grid, time)"));
            }
            if let Some(t) = value.as_table() {
                // Deserialise each section alone so that an error names section.key.
                let res = match section.as_str() {
                    "data" => DataConfig::deserialize(toml::Value::Table(t.clone())).map(|_| ()),
                    "model" => ModelConfig::deserialize(toml::Value::Table(t.clone())).map(|_| ()),
                    "grid" => GridConfig::deserialize(toml::Value::Table(t.clone())).map(|_| ()),
                    _ => TimeConfig::deserialize(toml::Value::Table(t.clone())).map(|_| ()),
                };
                if let Err(e) = res {
                    let msg = one_line(&e.to_string());
                    let key = t
                        .keys()
                        .find(|k| msg.contains(&format!("`{k}`")))
                        .map(|k| format!("{section}.{k}"))
                        .unwrap_or_else(|| section.clone());
                    return Err(Error::config(&key, format!("{msg} (in {origin})")));
                }
            } else {
                return Err(Error::config(section, "must be a table"));
            }
        }
        Config::deserialize(toml::Value::Table(table))
            .map_err(|e| Error::ConfigFile { path: origin.to_string(), msg: one_line(&e.to_string()) })
    }

    /// Checks every range for the grid solver; returns the typed settings.
    pub fn validate(&self) -> Result<Settings> {
        self.validate_for(Solver::Grid)
    }

    /// Checks every range for the particle solver, which takes any d (the grid
    /// keys still give the length scale of its CFL rule).
    pub fn validate_particles(&self) -> Result<Settings> {
        self.validate_for(Solver::Particles)
    }

    fn validate_for(&self, solver: Solver) -> Result<Settings> {
        let grid_solver = solver == Solver::Grid;
        let pos = |key: &str, v: f64| -> Result<()> {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(Error::config(key, format!("must be a finite number > 0, got {v}"))) }
        };
        let nonneg = |key: &str, v: f64| -> Result<()> {
            if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(Error::config(key, format!("must be a finite number ≥ 0, got {v}"))) }
        };
        let d = &self.data;
        let source = if d.source == "builtin" {
            DataSource::Builtin
        } else if d.source == "circle" {
            DataSource::Circle
        } else if let Some(p) = d.source.strip_prefix("csv:") {
            if p.is_empty() {
                return Err(Error::config("data.source", "csv: needs a path, e.g. \"csv:data.csv\""));
            }
            DataSource::Csv(p.to_string())
        } else {
            return Err(Error::config("data.source", format!("'{}' is not one of \"builtin\", \"csv:PATH\", \"circle\"", d.source)));
        };
        if !(d.test_fraction.is_finite() && (0.0..1.0).contains(&d.test_fraction)) {
            return Err(Error::config("data.test_fraction", format!("must be in [0, 1), got {}", d.test_fraction)));
        }
        if !["random", "spread"].contains(&d.selection.as_str()) {
            return Err(Error::config("data.selection", format!("'{}' is not \"random\" or \"spread\"", d.selection)));
        }
        if !["keep", "average"].contains(&d.duplicates.as_str()) {
            return Err(Error::config("data.duplicates", format!("'{}' is not \"keep\" or \"average\"", d.duplicates)));
        }
        if source == DataSource::Circle && d.n_train == 0 {
            return Err(Error::config("data.n_train", "the circle data set needs n_train ≥ 1"));
        }
        let m = &self.model;
        if grid_solver && !(m.d == 1 || m.d == 2) {
            return Err(Error::config("model.d", format!("the grid solver takes d = 1 or 2, got {}", m.d)));
        }
        if m.d == 0 || m.d > 64 {
            return Err(Error::config("model.d", format!("must be in 1..=64, got {}", m.d)));
        }
        if source == DataSource::Circle && m.d != 2 {
            return Err(Error::config("model.d", "the circle data set has d = 2"));
        }
        if source == DataSource::Builtin && m.d != 1 {
            return Err(Error::config("model.d", "the built-in data set has d = 1"));
        }
        let activation: Activation = m.activation.parse().map_err(|e: String| Error::config("model.activation", e))?;
        pos("model.alpha", m.alpha)?;
        pos("model.beta", m.beta)?;
        nonneg("model.eta_rho", m.eta_rho)?;
        nonneg("model.eta_nu", m.eta_nu)?;
        let std_range = |key: &str, v: f64| -> Result<()> {
            if (1e-6..=1e6).contains(&v) { Ok(()) } else { Err(Error::config(key, format!("must be in [1e-6, 1e6], got {v:e}"))) }
        };
        std_range("model.init_std_rho", m.init_std_rho)?;
        std_range("model.init_std_nu", m.init_std_nu)?;
        pos("model.init_std_rho", m.init_std_rho)?;
        pos("model.init_std_nu", m.init_std_nu)?;
        let k_rho = 2 * m.d + usize::from(m.resnet_bias);
        let k_nu = m.d + 1 + usize::from(m.output_bias);
        if grid_solver && k_rho > 4 {
            return Err(Error::config("model.resnet_bias", format!("d = {} with a residual bias gives k = {k_rho} > 4, beyond the grid solver", m.d)));
        }
        let g = &self.grid;
        if g.cells < 4 {
            return Err(Error::config("grid.cells", format!("must be ≥ 4, got {}", g.cells)));
        }
        let cells_nu = if g.cells_nu == 0 { g.cells } else { g.cells_nu };
        if cells_nu < 4 {
            return Err(Error::config("grid.cells_nu", format!("must be ≥ 4 (or 0 for grid.cells), got {}", g.cells_nu)));
        }
        // Memory guard: refuse more than ~8 GiB.
        let cells_total = (g.depth as f64) * (g.cells as f64).powi(k_rho as i32) + (cells_nu as f64).powi(k_nu as i32);
        if grid_solver && memory_bytes(cells_total) > 8.0 * 1024f64.powi(3) {
            let nu_cells = (cells_nu as f64).powi(k_nu as i32);
            let key = if g.cells_nu != 0 && nu_cells > cells_total - nu_cells { "grid.cells_nu" } else { "grid.cells" };
            return Err(Error::config(key, format!("{cells_total:.3e} cells in all need more than 8 GiB; reduce {key} or grid.depth")));
        }
        pos("grid.half_width", g.half_width)?;
        if !(0.5..=1e4).contains(&g.half_width) {
            return Err(Error::config("grid.half_width", format!("must be in [0.5, 1e4] initial standard deviations, got {}", g.half_width)));
        }
        if g.depth == 0 || g.depth > 4096 {
            return Err(Error::config("grid.depth", format!("must be in 1..=4096, got {}", g.depth)));
        }
        let limiter: Limiter = g.limiter.parse().map_err(|e: String| Error::config("grid.limiter", e))?;
        let filter: Filter = g.filter.parse().map_err(|e: String| Error::config("grid.filter", e))?;
        let scheme = match g.scheme.as_str() {
            "fv1" => Scheme::Fv(Reconstruction::Constant),
            "fv2" => Scheme::Fv(Reconstruction::Linear(limiter)),
            "spectral" => Scheme::Spectral(filter),
            other => return Err(Error::config("grid.scheme", format!("'{other}' is not \"fv1\", \"fv2\" or \"spectral\""))),
        };
        pos("grid.outflow_warning", g.outflow_warning)?;
        let t = &self.time;
        pos("time.t_end", t.t_end)?;
        let tableau: Tableau = t.integrator.parse().map_err(|e: String| Error::config("time.integrator", e))?;
        pos("time.cfl", t.cfl)?;
        let cfl_max = cfl_limit(scheme, &tableau);
        if scheme.is_spectral() && cfl_max == 0.0 {
            return Err(Error::config(
                "time.integrator",
                format!("{} is unstable with the spectral scheme (no part of the imaginary axis in its stability region); use rk4, ssprk43 or ssprk3", tableau.name),
            ));
        }
        if t.cfl > cfl_max {
            return Err(Error::config(
                "time.cfl",
                format!("{} exceeds {cfl_max}, the {} of {} with {}", t.cfl, cfl_limit_kind(scheme), g.scheme, tableau.name),
            ));
        }
        nonneg("time.dt", t.dt)?;
        nonneg("time.dt_max", t.dt_max)?;
        if t.dt_max > 0.0 && t.t_end / t.dt_max > 1e8 {
            return Err(Error::config("time.dt_max", format!("{} needs more than 10⁸ steps to reach t_end = {}", t.dt_max, t.t_end)));
        }
        if t.dt > 0.0 && t.t_end / t.dt > 1e8 {
            return Err(Error::config("time.dt", format!("{} needs more than 10⁸ steps to reach t_end = {}", t.dt, t.t_end)));
        }
        pos("time.output_every", t.output_every)?;
        if t.t_end / t.output_every > 1e6 {
            return Err(Error::config("time.output_every", "more than 10⁶ output times"));
        }
        Ok(Settings { source, activation, scheme, tableau, k_rho, k_nu, cells_nu })
    }

    /// The network the model section describes.
    pub fn network(&self, settings: &Settings) -> Network {
        let m = &self.model;
        Network {
            residual: Block::residual(settings.activation, m.d, m.resnet_bias),
            output: Block::output(settings.activation, m.d, m.output_bias),
            depth: self.grid.depth,
            alpha: m.alpha,
            beta: m.beta,
            eta_rho: m.eta_rho,
            eta_nu: m.eta_nu,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_default_file_equals_the_defaults() {
        let text = include_str!("../configs/default.toml");
        let table: toml::Table = text.parse().unwrap();
        let c = Config::from_table(table, "default.toml").unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn overrides_and_errors_name_the_key() {
        let c = Config::load(None, &["model.beta=2".into(), "model.activation=erf".into()]).unwrap();
        assert_eq!(c.model.beta, 2.0);
        assert_eq!(c.model.activation, "erf");
        let e = Config::load(None, &["model.betta=2".into()]).unwrap_err();
        assert!(e.to_string().contains("model.betta"), "{e}");
        let e = Config::load(None, &["model.beta=-1".into()]).unwrap().validate().unwrap_err();
        assert!(e.to_string().contains("model.beta"), "{e}");
        let e = Config::load(None, &["model.beta=\"x\"".into()]).unwrap_err();
        assert!(e.to_string().contains("model.beta"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}
