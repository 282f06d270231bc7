//! The standard figures of a run, drawn with [`crate::plot`] into its output folder:
//!
//! * `loss.svg` — training and test loss against t (log y);
//! * `lambda_min.svg` — λ_min of G₁, G₂ and G against t (log y; values below
//!   1e-13·λ_max(G), round-off such as G₁ at t = 0, are not drawn);
//! * `kl_w2.svg` — KL_ρ, KL_ν and the W₂ path bounds A_ρ, A_ν against t;
//! * `rho_slice{l}_{first,last}.svg`, `nu_{first,last}.svg` — heat maps of every
//!   density at the first and last output time on its first two coordinates (for
//!   k > 2 the marginal over the other coordinates, said in the title), with the
//!   1σ and 2σ circles of the initial Gaussian (its marginal is N(0, σ²I₂) too);
//! * `gram_bound.svg` (theory) — L(t) against the Gram bounds.

use crate::error::Result;
use crate::io::OutputDir;
use crate::plot::{self, HeatMap, LineChart, Ring, Series};
use crate::run::{Problem, Row};
use crate::theory::Analysis;

/// The files written here (for `--force`; `rho_slice*` is already a run file).
pub const FIGURE_FILES: &[&str] =
    &["loss.svg", "lambda_min.svg", "kl_w2.svg", "rho_slice*.svg", "nu_first.svg", "nu_last.svg", "gram_bound.svg"];

/// Eigenvalues below this fraction of λ_max(G) are round-off.
const ROUND_OFF: f64 = 1e-13;

fn series(rows: &[Row], label: &str, f: impl Fn(&Row) -> Option<f64>) -> Series {
    Series::new(label, rows.iter().filter_map(|r| f(r).map(|v| (r.t, v))).collect())
}

/// Names of the coordinates of a part.
fn coordinates(d: usize, resnet_bias: bool, output_bias: bool, nu: bool) -> Vec<&'static str> {
    match (d, nu) {
        (1, false) => if resnet_bias { vec!["u", "w", "b"] } else { vec!["u", "w"] },
        (1, true) => if output_bias { vec!["a", "c", "e"] } else { vec!["a", "c"] },
        (_, false) => vec!["u1", "u2", "w1", "w2"],
        (_, true) => if output_bias { vec!["a", "c1", "c2", "e"] } else { vec!["a", "c1", "c2"] },
    }
}

/// The line charts of any run (grid or particles).
pub const TIME_SERIES_FIGURES: &[&str] = &["loss.svg", "lambda_min.svg", "kl_w2.svg"];

/// The line charts and heat maps of a grid run whose rows and last state are given.
pub fn run_figures(dir: &OutputDir, problem: &Problem, rows: &[Row], last_state: &[f64]) -> Result<()> {
    time_series_figures(dir, &problem.data.name, rows)?;
    let t_first = rows.first().map(|r| r.t).unwrap_or(0.0);
    let t_last = rows.last().map(|r| r.t).unwrap_or(0.0);
    density_maps(dir, problem, &problem.initial, "first", t_first)?;
    density_maps(dir, problem, last_state, "last", t_last)
}

/// Loss, λ_min and KL / W2 path bound against t (`TIME_SERIES_FIGURES`).
pub fn time_series_figures(dir: &OutputDir, name: &str, rows: &[Row]) -> Result<()> {
    let pos = |v: f64| Some(v);
    plot::line_chart(
        &dir.file("loss.svg"),
        &LineChart::new(format!("loss — {name}"), "t", "loss")
            .log_y(true)
            .series(series(rows, "training loss", |r| pos(r.loss)))
            .series(series(rows, "test loss", |r| r.test_loss)),
    )?;
    // Eigenvalues at round-off level (G1 at t = 0 is exactly 0 in exact arithmetic)
    // would set the scale of a log axis; they are not drawn.
    let above = |v: f64, r: &Row| if v > ROUND_OFF * r.lambda_max_g { Some(v) } else { None };
    plot::line_chart(
        &dir.file("lambda_min.svg"),
        &LineChart::new("smallest eigenvalues of the Gram matrices (values < 1e-13·λ_max(G) not drawn)", "t", "λ_min")
            .log_y(true)
            .series(series(rows, "λ_min(G1)", |r| above(r.lambda_min_g1, r)))
            .series(series(rows, "λ_min(G2)", |r| above(r.lambda_min_g2, r)))
            .series(series(rows, "λ_min(G)", |r| above(r.lambda_min_g, r))),
    )?;
    plot::line_chart(
        &dir.file("kl_w2.svg"),
        &LineChart::new("KL divergence to initialisation and W2 path bounds", "t", "KL, path bound")
            .series(series(rows, "KL_ρ (mean over slices)", |r| pos(r.kl_rho)))
            .series(series(rows, "KL_ν", |r| pos(r.kl_nu)))
            .series(series(rows, "W2 path bound A_ρ", |r| pos(r.w2_path_rho)))
            .series(series(rows, "W2 path bound A_ν", |r| pos(r.w2_path_nu)))
            .series(series(rows, "KL_ρ by transport", |r| pos(r.kl_rho_transport)))
            .series(series(rows, "KL_ν by transport", |r| pos(r.kl_nu_transport))),
    )
}

/// Heat maps of every part of `state`.
pub fn density_maps(dir: &OutputDir, problem: &Problem, state: &[f64], tag: &str, t: f64) -> Result<()> {
    let flow = &problem.flow;
    let m = &problem.config.model;
    let s = flow.depth();
    for (i, part) in flow.parts.iter().enumerate() {
        let grid = &part.grid;
        let nu = i == s;
        let vol = grid.cell_volume();
        let dens: Vec<f64> = flow.layout.part(state, i).iter().map(|p| p / vol).collect();
        let values = plot::marginal_first_two(&dens, grid.cells, grid.k, grid.h());
        let names = coordinates(m.d, m.resnet_bias, m.output_bias, nu);
        let what = if nu {
            "ν".to_string()
        } else {
            format!("ρ slice {i} (s ∈ [{i}/{s}, {}/{s}))", i + 1)
        };
        let mut title = format!("{what} at t = {t}");
        if grid.k > 2 {
            title += &format!(", marginal over ({}) onto ({}, {})", names[2..].join(", "), names[0], names[1]);
        }
        let std = if nu { m.init_std_nu } else { m.init_std_rho };
        let init = if nu { "ν₀" } else { "ρ₀" };
        let map = HeatMap {
            title,
            x_label: names[0].into(),
            y_label: names[1].into(),
            n: grid.cells,
            half_width: grid.half_width,
            values: &values,
            circles: vec![
                Ring { radius: std, label: format!("1σ circle of {init}") },
                Ring { radius: 2.0 * std, label: format!("2σ circle of {init}") },
            ],
        };
        let name = if nu { format!("nu_{tag}.svg") } else { format!("rho_slice{i}_{tag}.svg") };
        plot::heat_map(&dir.file(&name), &map)?;
    }
    Ok(())
}

/// The loss against the Gram bounds of [`crate::theory`].
pub fn theory_figures(dir: &OutputDir, a: &Analysis) -> Result<()> {
    let rows = &a.gram_bound.rows;
    let pts = |f: &dyn Fn(&crate::theory::BoundRow) -> f64| rows.iter().map(|r| (r.t, f(r))).collect::<Vec<_>>();
    plot::line_chart(
        &dir.file("gram_bound.svg"),
        &LineChart::new("loss against the Gram bound L(0)exp(−(2/n)∫λ_min(G))", "t", "loss")
            .log_y(true)
            .series(Series::new("loss L(t)", pts(&|r| r.loss)))
            .series(Series::new("bound, lower-sum ∫", pts(&|r| r.bound_lower)))
            .series(Series::new("bound, trapezoid ∫", pts(&|r| r.bound_trapezoid))),
    )
}
