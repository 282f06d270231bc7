//! Small problems shared by the integration tests.
#![allow(dead_code)]

use mfres::config::Config;
use mfres::data::Dataset;
use mfres::model::exact::LinearGaussian;
use mfres::run::{Collect, Problem, Row};

/// A small, fast configuration on the built-in data.
pub fn small_config(activation: &str, cells: usize) -> Config {
    let mut c = Config::default();
    c.model.activation = activation.into();
    c.data.n_train = 6;
    c.grid.cells = cells;
    c.grid.cells_nu = cells;
    c.grid.depth = 2;
    c.grid.half_width = 6.0;
    c.time.t_end = 0.5;
    c.time.output_every = 0.25;
    c
}

pub fn run(cfg: Config) -> (Problem, Vec<Row>) {
    let mut p = Problem::from_config(cfg).expect("valid config");
    let mut rows = Collect::default();
    let report = p.run(&mut rows).expect("run");
    report.into_result().expect("stable run");
    (p, rows.rows)
}

/// The exact Gaussian closure of a linear-activation configuration on its training data.
pub fn linear_gaussian(cfg: &Config, data: &Dataset) -> LinearGaussian {
    let settings = cfg.validate().expect("valid config");
    let network = cfg.network(&settings);
    LinearGaussian::of_network(&network, data.x_train.clone(), data.y_train.clone(), cfg.model.init_std_rho, cfg.model.init_std_nu)
}
