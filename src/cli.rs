//! The commands behind the binary: each validates everything before it touches
//! the output folder, then runs and writes its files.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

use crate::config::Config;
use crate::error::Result;
use crate::io::{self, OutputDir, RunWriter};
use crate::run::{Problem, Termination};

/// How mass that leaves the box enters the KL divergence (also in summary.json).
pub const KL_BOUNDARY_NOTE: &str = "KL = Σ p log(p/q) + (Σq − Σp) over the cells left in the box: mass that left through the boundary counts in the second term (generalised KL of the sub-probability on the grid); it is the plain KL while outflow = 0";

pub fn run(config: Config, out: &Path, force: bool, quiet: bool) -> Result<()> {
    let mut problem = Problem::from_config(config)?;
    let ours: Vec<&str> = io::RUN_FILES.iter().chain(crate::figures::FIGURE_FILES).copied().collect();
    let dir = OutputDir::prepare(out, force, &ours)?;
    let show = !quiet && std::io::stderr().is_terminal();
    let mut writer = RunWriter::new(dir, problem.config.time.t_end, show)?;
    let report = problem.run(&mut writer)?;
    writer.finish();
    let dir = writer.dir.clone();
    if !writer.last_state.is_empty() {
        // Predictions and the last snapshot at the last output time written.
        let state = writer.last_state.clone();
        problem.flow.update_atoms(&state);
        io::write_density_snapshots(&dir, &problem.flow, &state, "last")?;
        crate::figures::run_figures(&dir, &problem, &writer.rows, &state)?;
        let d = problem.data.d;
        let f_train = problem.flow.predict(&problem.data.x_train).f;
        let f_test = problem.flow.predict(&problem.data.x_test).f;
        io::write_predictions(
            &dir.file("predictions.csv"),
            d,
            &[
                ("train", &problem.data.x_train, &problem.data.y_train, &f_train),
                ("test", &problem.data.x_test, &problem.data.y_test, &f_test),
            ],
        )?;
    }
    let last = &report.last;
    let mut warnings = Vec::new();
    let warn = problem.config.grid.outflow_warning;
    if last.outflow_rho > warn || last.outflow_nu > warn {
        warnings.push(format!(
            "mass left the box (outflow_rho = {:.3e}, outflow_nu = {:.3e} > {warn:.0e}): increase grid.half_width",
            last.outflow_rho, last.outflow_nu
        ));
    }
    let n = problem.data.n_train();
    let degenerate = problem.degeneracy.describe(n);
    if let Some(d) = &degenerate {
        warnings.push(format!("λ_min(G2) = 0 expected: {d}"));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let summary = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "termination": report.termination,
        "wall_seconds": report.wall_seconds,
        "steps": report.steps,
        "loss_initial": report.loss_initial,
        "loss_final": last.loss,
        "loss_factor": report.loss_initial / last.loss,
        "test_loss_final": last.test_loss,
        "final": last,
        "data": {
            "name": problem.data.name,
            "n_train": n,
            "n_test": problem.data.n_test(),
            "rows_read": problem.data.rows_read,
            "rows_merged": problem.data.rows_merged,
            "standardisation": problem.data.standardisation,
            "degeneracy": problem.degeneracy,
            "lambda_min_g2_zero_cause": degenerate,
        },
        "grid": {
            "k_rho": problem.settings.k_rho,
            "k_nu": problem.settings.k_nu,
            "cells_rho": problem.config.grid.cells,
            "cells_nu": problem.settings.cells_nu,
            "box_rho": [-problem.flow.parts[0].grid.half_width, problem.flow.parts[0].grid.half_width],
            "box_nu": [-problem.flow.parts[problem.flow.depth()].grid.half_width, problem.flow.parts[problem.flow.depth()].grid.half_width],
            "coordinates_rho": if problem.config.model.d == 1 { "(u, w[, b])" } else { "(u1, u2, w1, w2)" },
            "coordinates_nu": if problem.config.model.d == 1 { "(a, c[, e])" } else { "(a, c1, c2[, e])" },
        },
        "kl_boundary": KL_BOUNDARY_NOTE,
        "warnings": warnings,
        "config": problem.config,
    });
    io::write_json(&dir.file("summary.json"), &summary)?;
    print_table(&problem, &report, &dir.path.display().to_string());
    report.into_result().map(|_| ())
}

fn print_table(problem: &Problem, report: &crate::run::RunReport, dir: &str) {
    let l = &report.last;
    let status = match &report.termination {
        Termination::ReachedTime { t } => format!("reached t = {t}"),
        Termination::Unstable { t, cause } => format!("UNSTABLE at t = {t:.6}: {cause}"),
    };
    println!("mfres run — {}", problem.data.name);
    println!("  {status}, {} steps, {:.2} s", report.steps, report.wall_seconds);
    println!("  {:<28} {:>14}", "quantity", "value");
    let rows: Vec<(&str, String)> = vec![
        ("n_train / n_test", format!("{} / {}", problem.data.n_train(), problem.data.n_test())),
        ("loss  initial → final", format!("{:.6e} → {:.6e}", report.loss_initial, l.loss)),
        ("loss factor", format!("{:.4}", report.loss_initial / l.loss)),
        ("test loss (final)", l.test_loss.map(|v| format!("{v:.6e}")).unwrap_or("-".into())),
        ("λ_min(G) / λ_min(G2)", format!("{:.4e} / {:.4e}", l.lambda_min_g, l.lambda_min_g2)),
        ("λ_max(G)", format!("{:.4e}", l.lambda_max_g)),
        ("KL_rho / KL_nu", format!("{:.4e} / {:.4e}", l.kl_rho, l.kl_nu)),
        ("W2 path bound rho / nu", format!("{:.4e} / {:.4e}", l.w2_path_rho, l.w2_path_nu)),
        ("outflow rho / nu", format!("{:.2e} / {:.2e}", l.outflow_rho, l.outflow_nu)),
    ];
    for (k, v) in rows {
        println!("  {k:<28} {v:>14}");
    }
    println!("  results in {dir}/");
}

pub fn gram(config: Config) -> Result<()> {
    let mut problem = Problem::from_config(config)?;
    let y = problem.initial.clone();
    problem.flow.update_atoms(&y);
    let g = problem.gram_now();
    let n = problem.data.n_train();
    let rows = |m: &[f64]| -> Vec<Vec<f64>> { m.chunks(n).map(|r| r.to_vec()).collect() };
    let out = json!({
        "n": n,
        "g1": rows(&g.g1),
        "g2": rows(&g.g2),
        "eigenvalues_g": g.eig_g,
        "eigenvalues_g2": g.eig_g2,
        "lambda_min_g": g.eig_g.first(),
        "lambda_min_g2": g.eig_g2.first(),
        "lambda_min_g2_zero_cause": problem.degeneracy.describe(n),
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    Ok(())
}
