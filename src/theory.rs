//! Checks of the mean-field convergence theory (model section 3) on the output
//! rows of a grid run, and the `theory` command.
//!
//! With n training points, L the loss, G = G₁ + G₂ and λ(t) = λ_min(G(t)):
//!
//! * **λ_min(G₂(0)) > 0** — positive beyond round-off, `λ > 1e-10·λ_max(G₂(0))`
//!   ([`POSITIVE_REL`]); when it is not, the cause named by [`Degeneracy`].
//! * **Gram bound** `L(t) ≤ L(0)·exp(−(2/n)∫₀ᵗ λ)` at every output time. It follows
//!   from dL/dt = −rᵀGr/n² ≤ −(2/n)λL, which is exact for the flow and holds for
//!   the grid system up to the discretisation (the gap between
//!   `dissipation_semidiscrete` and `dissipation_gram`, reported). λ is known at the
//!   output times only, so ∫λ is a quadrature. The verdict uses the **lower sum**
//!   Σ Δt·min(λ_k, λ_{k+1}): it is ≤ the true integral whenever λ is monotone on each
//!   output interval, so the checked bound is implied by the true one (a FAIL is a
//!   genuine violation, a PASS never rests on an over-estimated integral). The
//!   trapezoidal bound, sharper but not one-sided, is reported beside it; when the
//!   two verdicts differ the output times are too coarse
//!   (`--set time.output_every=…` makes them denser).
//! * **t_half** — the first output time with λ(t) < λ(0)/2, and the W₂ path bounds
//!   A_ρ, A_ν there (the radius of the ball in which the theory applies). Before it,
//!   λ ≥ λ(0)/2, so the linear-convergence claim `L(t) ≤ L(0)·exp(−λ(0)t/n)` is
//!   checked at every output time before t_half.
//! * **Rate** — the least-squares slope of log L against t, against 2λ/n (minimum and
//!   mean over the run). The LS slope is a positive-weighted mean of the interval
//!   slopes, each ≤ −(2/n)·(mean of λ on the interval), so the fitted rate must be
//!   ≥ 2·min λ/n (up to the sampling of λ).
//! * **KL** — the trajectory of KL_ρ, KL_ν, its final and largest value (finite is
//!   what a finite run can check), and the generalisation gap (test − train loss)
//!   beside the Rademacher scale β·√(KL/n).

use std::io::IsTerminal;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::data::Degeneracy;
use crate::error::{Error, Result};
use crate::io::{self, OutputDir, RunWriter};
use crate::run::{Problem, Row, Termination};

/// λ_min(G₂(0)) counts as positive above this fraction of λ_max(G₂(0)).
pub const POSITIVE_REL: f64 = 1e-10;
/// Round-off allowance of the bound checks (relative).
pub const BOUND_TOL: f64 = 1e-12;

/// The files the `theory` command writes (for `--force`).
pub const THEORY_FILES: &[&str] = &["theory.json", "theory.json.tmp"];

/// Outcome of one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    /// Reported figures without a pass/fail criterion.
    Info,
}

/// One printed line.
#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
}

/// λ_min(G₂) at initialisation.
#[derive(Clone, Debug, Serialize)]
pub struct Initial {
    pub lambda_min_g2: f64,
    pub lambda_max_g2: f64,
    pub positive: bool,
    /// Cause found in the inputs when λ_min is not positive (or when one is expected).
    pub cause: Option<String>,
}

/// The Gram bound at one output time.
#[derive(Clone, Debug, Serialize)]
pub struct BoundRow {
    pub t: f64,
    pub loss: f64,
    pub lambda_min_g: f64,
    pub integral_lower: f64,
    pub integral_trapezoid: f64,
    pub bound_lower: f64,
    pub bound_trapezoid: f64,
    pub ratio_lower: f64,
    pub ratio_trapezoid: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GramBound {
    pub rows: Vec<BoundRow>,
    pub worst_ratio_lower: f64,
    pub worst_ratio_lower_t: f64,
    pub worst_ratio_trapezoid: f64,
    pub holds_lower: bool,
    pub holds_trapezoid: bool,
    /// λ_min(G) is monotone over the output times (where the lower sum is rigorous
    /// if it is also monotone between them).
    pub lambda_monotone: bool,
    /// Largest |dissipation_semidiscrete − dissipation_gram| / dissipation_gram over t > 0.
    pub energy_identity_gap: f64,
    pub note: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Half {
    pub lambda0: f64,
    /// λ_min(G(0)) > 1e-10·λ_max(G(0)): otherwise t_half and the ball are undefined.
    pub defined: bool,
    /// First output time with λ_min(G) < λ_min(G(0))/2.
    pub t_half: Option<f64>,
    /// Last output time before t_half (the end of the run when not reached).
    pub t_inside: f64,
    pub w2_path_rho_at_t_half: Option<f64>,
    pub w2_path_nu_at_t_half: Option<f64>,
    pub w2_path_rho_inside: f64,
    pub w2_path_nu_inside: f64,
    /// Worst L(t)/(L(0)·exp(−λ(0)t/n)) over the output times up to t_inside.
    pub linear_worst_ratio: f64,
    pub linear_holds: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    /// −slope of the least-squares line through (t, ln L).
    pub fitted: f64,
    /// ln(L(0)/L(T))/T.
    pub average: f64,
    pub gram_min: f64,
    pub gram_mean: f64,
    /// Time mean of the rate the identity dL/dt = −rᵀGr/n² gives, (rᵀGr/n²)/L
    /// (= 2·(Rayleigh quotient of G at r)/n; trapezoid over the output times).
    pub rayleigh_mean: f64,
    pub holds: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Kl {
    pub t: Vec<f64>,
    pub kl_rho: Vec<f64>,
    pub kl_nu: Vec<f64>,
    pub final_rho: f64,
    pub final_nu: f64,
    pub max_total: f64,
    /// (KL(T) − KL(¾T)) / KL(T) of the total: near 0 when it has levelled off.
    pub growth_last_quarter: f64,
    pub finite: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Generalisation {
    pub train_loss: f64,
    pub test_loss: Option<f64>,
    pub gap: Option<f64>,
    /// β·√((KL_ρ + KL_ν)/n) at the end.
    pub rademacher_scale: f64,
}

/// Every check of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub n: usize,
    pub initial: Initial,
    pub gram_bound: GramBound,
    pub half: Half,
    pub rate: Rate,
    pub kl: Kl,
    pub generalisation: Generalisation,
    /// Output times at which the loss is above its value at the previous output time
    /// (impossible for the flow, whose loss is its energy).
    pub loss_increases: Vec<f64>,
    /// Largest mass that left a box (ρ: mean over slices), at the end.
    pub outflow: f64,
    /// What makes the numbers of this run unreliable as a test of the theory.
    pub warnings: Vec<String>,
    pub claims: Vec<Claim>,
}

/// Cumulative lower-sum and trapezoidal integrals of `f` over the points `t`.
pub fn cumulative_integrals(t: &[f64], f: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut lower = vec![0.0; t.len()];
    let mut trap = vec![0.0; t.len()];
    for k in 1..t.len() {
        let dt = t[k] - t[k - 1];
        lower[k] = lower[k - 1] + dt * f[k].min(f[k - 1]);
        trap[k] = trap[k - 1] + dt * 0.5 * (f[k] + f[k - 1]);
    }
    (lower, trap)
}

/// Least-squares slope of y against x (None with fewer than two distinct x).
pub fn ls_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    if !(sxx > 0.0) {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    Some(sxy / sxx)
}

/// Whether λ_min(G₂(0)) is positive, and the cause when it is not.
pub fn initial_check(row0: &Row, degeneracy: &Degeneracy, n: usize) -> Initial {
    // G₁(0) = 0, so λ_max(G(0)) is λ_max(G₂(0)).
    let lmin = row0.lambda_min_g2;
    let lmax = row0.lambda_max_g;
    let positive = lmin.is_finite() && lmin > POSITIVE_REL * lmax.abs();
    let detected = degeneracy.describe(n);
    let cause = match (&detected, positive) {
        (Some(d), _) => Some(d.clone()),
        (None, false) => Some(format!(
            "no repeated, mirrored or zero input and no rank limit detected: G₂(0) is ill-conditioned (λ_min/λ_max = {:.2e})",
            lmin / lmax
        )),
        (None, true) => None,
    };
    Initial { lambda_min_g2: lmin, lambda_max_g2: lmax, positive, cause }
}

/// Where λ_min(G) first falls below half its initial value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfTime {
    /// At this row.
    At(usize),
    NotReached,
    /// λ_min(G(0)) is not positive beyond round-off (≤ [`POSITIVE_REL`]·λ_max(G(0))):
    /// there is no ball in which the theory applies.
    Undefined,
}

/// The first row with λ_min(G) < λ_min(G(0))/2.
pub fn half_time(rows: &[Row]) -> HalfTime {
    let Some(first) = rows.first() else { return HalfTime::Undefined };
    let l0 = first.lambda_min_g;
    if !(l0 > POSITIVE_REL * first.lambda_max_g.abs()) {
        return HalfTime::Undefined;
    }
    match rows.iter().position(|r| r.lambda_min_g < 0.5 * l0) {
        Some(k) => HalfTime::At(k),
        None => HalfTime::NotReached,
    }
}

/// Runs every check on the output rows of a run with `n` training points.
pub fn analyse(rows: &[Row], n: usize, beta: f64, degeneracy: &Degeneracy) -> Analysis {
    assert!(!rows.is_empty(), "a run has at least the row at t = 0");
    let nf = n as f64;
    let t: Vec<f64> = rows.iter().map(|r| r.t).collect();
    let lam: Vec<f64> = rows.iter().map(|r| r.lambda_min_g).collect();
    let loss: Vec<f64> = rows.iter().map(|r| r.loss).collect();
    let l0 = loss[0];
    let last = rows.last().expect("non-empty");
    let initial = initial_check(&rows[0], degeneracy, n);

    // Gram bound.
    let (lower, trap) = cumulative_integrals(&t, &lam);
    let mut brows = Vec::with_capacity(rows.len());
    let (mut worst_l, mut worst_l_t, mut worst_t) = (f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY);
    for k in 0..rows.len() {
        let bl = l0 * (-2.0 / nf * lower[k]).exp();
        let bt = l0 * (-2.0 / nf * trap[k]).exp();
        let (rl, rt) = (loss[k] / bl, loss[k] / bt);
        if k > 0 || rows.len() == 1 {
            if rl > worst_l || rl.is_nan() {
                worst_l = rl;
                worst_l_t = t[k];
            }
            worst_t = worst_t.max(rt);
        }
        brows.push(BoundRow {
            t: t[k],
            loss: loss[k],
            lambda_min_g: lam[k],
            integral_lower: lower[k],
            integral_trapezoid: trap[k],
            bound_lower: bl,
            bound_trapezoid: bt,
            ratio_lower: rl,
            ratio_trapezoid: rt,
        });
    }
    let holds = |w: f64| w <= 1.0 + BOUND_TOL;
    let monotone = lam.windows(2).all(|w| w[1] <= w[0]) || lam.windows(2).all(|w| w[1] >= w[0]);
    let energy_gap = rows
        .iter()
        .skip(1)
        .filter(|r| r.dissipation_gram > 0.0)
        .map(|r| (r.dissipation_semidiscrete - r.dissipation_gram).abs() / r.dissipation_gram)
        .fold(0.0f64, f64::max);
    let gram_bound = GramBound {
        rows: brows,
        worst_ratio_lower: worst_l,
        worst_ratio_lower_t: worst_l_t,
        worst_ratio_trapezoid: worst_t,
        holds_lower: holds(worst_l),
        holds_trapezoid: holds(worst_t),
        lambda_monotone: monotone,
        energy_identity_gap: energy_gap,
        note: "exact for the flow; on the grid it holds up to the discretisation (dL/dt of the grid system is −dissipation_semidiscrete, \
               which differs from −rᵀGr/n² by energy_identity_gap relative) and up to the quadrature of ∫λ_min(G) over the output times: \
               the verdict uses the lower sum Σ Δt·min(λ_k, λ_k+1), a lower bound of the integral when λ_min(G) is monotone on each output \
               interval; the trapezoidal bound is reported beside it"
            .into(),
    };

    // t_half and the linear-convergence claim inside the ball.
    let lambda0 = lam[0];
    let ht = half_time(rows);
    let k_half = match ht {
        HalfTime::At(k) => Some(k),
        _ => None,
    };
    let k_inside = match ht {
        HalfTime::At(k) => k.saturating_sub(1),
        HalfTime::NotReached => rows.len() - 1,
        HalfTime::Undefined => 0,
    };
    // Ratios at t > 0 (at t = 0 it is 1 by construction); 1 when no such time is inside.
    let mut lin_worst = if k_inside == 0 { 1.0 } else { f64::NEG_INFINITY };
    for k in 1..=k_inside {
        let b = l0 * (-lambda0 * t[k] / nf).exp();
        lin_worst = lin_worst.max(loss[k] / b);
    }
    let half = Half {
        lambda0,
        defined: ht != HalfTime::Undefined,
        t_half: k_half.map(|k| t[k]),
        t_inside: t[k_inside],
        w2_path_rho_at_t_half: k_half.map(|k| rows[k].w2_path_rho),
        w2_path_nu_at_t_half: k_half.map(|k| rows[k].w2_path_nu),
        w2_path_rho_inside: rows[k_inside].w2_path_rho,
        w2_path_nu_inside: rows[k_inside].w2_path_nu,
        linear_worst_ratio: lin_worst,
        linear_holds: ht != HalfTime::Undefined && lin_worst <= 1.0 + BOUND_TOL,
    };

    // Rate.
    let (ft, fl): (Vec<f64>, Vec<f64>) =
        rows.iter().filter(|r| r.loss > 0.0 && r.loss.is_finite()).map(|r| (r.t, r.loss.ln())).unzip();
    let fitted = ls_slope(&ft, &fl).map(|s| -s).unwrap_or(f64::NAN);
    let t_end = last.t;
    let average = if t_end > 0.0 { (l0 / last.loss).ln() / t_end } else { f64::NAN };
    let gram_min = 2.0 / nf * lam.iter().copied().fold(f64::INFINITY, f64::min);
    let gram_mean = if t_end > 0.0 { 2.0 / nf * trap[rows.len() - 1] / t_end } else { 2.0 / nf * lambda0 };
    let ray: Vec<f64> = rows.iter().map(|r| if r.loss > 0.0 { r.dissipation_gram / r.loss } else { 0.0 }).collect();
    let (_, ray_int) = cumulative_integrals(&t, &ray);
    let rayleigh_mean = if t_end > 0.0 { ray_int[rows.len() - 1] / t_end } else { ray[0] };
    let rate = Rate { fitted, average, gram_min, gram_mean, rayleigh_mean, holds: fitted >= gram_min * (1.0 - 1e-9) };

    // KL.
    let total = |r: &Row| r.kl_rho + r.kl_nu;
    let k_q = rows.iter().position(|r| r.t >= 0.75 * t_end).unwrap_or(rows.len() - 1);
    let kl_end = total(last);
    let kl = Kl {
        t: t.clone(),
        kl_rho: rows.iter().map(|r| r.kl_rho).collect(),
        kl_nu: rows.iter().map(|r| r.kl_nu).collect(),
        final_rho: last.kl_rho,
        final_nu: last.kl_nu,
        max_total: rows.iter().map(total).fold(0.0, f64::max),
        growth_last_quarter: if kl_end > 0.0 { (kl_end - total(&rows[k_q])) / kl_end } else { 0.0 },
        finite: rows.iter().all(|r| total(r).is_finite()),
    };
    let generalisation = Generalisation {
        train_loss: last.loss,
        test_loss: last.test_loss,
        gap: last.test_loss.map(|v| v - last.loss),
        rademacher_scale: beta * (kl_end.max(0.0) / nf).sqrt(),
    };
    let loss_increases: Vec<f64> = rows.windows(2).filter(|w| w[1].loss > w[0].loss).map(|w| w[1].t).collect();
    let outflow = last.outflow_rho.max(last.outflow_nu);
    let mut a = Analysis {
        n,
        initial,
        gram_bound,
        half,
        rate,
        kl,
        generalisation,
        loss_increases,
        outflow,
        warnings: Vec::new(),
        claims: Vec::new(),
    };
    a.claims = claims(&a);
    a
}

fn verdict(ok: bool) -> Verdict {
    if ok { Verdict::Pass } else { Verdict::Fail }
}

fn claims(a: &Analysis) -> Vec<Claim> {
    let mut out = Vec::new();
    let mut push = |name: &str, verdict: Verdict, detail: String| out.push(Claim { name: name.into(), verdict, detail });
    push(
        "loss_non_increasing",
        verdict(a.loss_increases.is_empty()),
        if a.loss_increases.is_empty() {
            "the loss never increases between output times (it is the energy of the flow)".into()
        } else {
            format!(
                "the loss increases at {} output time(s), first at t = {}: the numerical solution is not a gradient flow there \
                 (a time step too long for the loss dynamics — try --set time.dt_max=… — or mass leaving the box)",
                a.loss_increases.len(),
                a.loss_increases[0]
            )
        },
    );
    let i = &a.initial;
    let mut d = format!(
        "λ_min(G2(0)) = {:.4e}, λ_max(G2(0)) = {:.4e} (positive means > {POSITIVE_REL:.0e}·λ_max)",
        i.lambda_min_g2, i.lambda_max_g2
    );
    if let Some(c) = &i.cause {
        d += &format!("; cause: {c}");
    }
    push("lambda_min_g2_positive", verdict(i.positive), d);
    let g = &a.gram_bound;
    let mut d = format!(
        "L(t) ≤ L(0)exp(−(2/n)∫λ_min(G)) at all {} output times: worst L/bound = {:.6} at t = {} (lower-sum ∫), {:.6} (trapezoid ∫); \
         holds up to discretisation (energy-identity gap {:.2e}) and quadrature of ∫ (λ_min(G) {} over the output times)",
        g.rows.len(),
        g.worst_ratio_lower,
        g.worst_ratio_lower_t,
        g.worst_ratio_trapezoid,
        g.energy_identity_gap,
        if g.lambda_monotone { "monotone" } else { "not monotone" }
    );
    if g.holds_lower != g.holds_trapezoid {
        d += "; the two quadratures disagree: make the output times denser (--set time.output_every=…)";
    }
    push("gram_bound", verdict(g.holds_lower), d);
    let h = &a.half;
    let d = match h.t_half {
        None if !h.defined => format!(
            "t_half undefined: λ_min(G(0)) = {:.4e} is not positive beyond round-off (≤ {POSITIVE_REL:.0e}·λ_max), so there is no ball in which the theory applies",
            h.lambda0
        ),
        Some(th) => format!(
            "t_half = {th} (λ_min(G) < λ_min(G(0))/2 = {:.4e}); W2 path bounds at t_half: A_ρ = {:.4e}, A_ν = {:.4e}; inside up to t = {}: A_ρ = {:.4e}, A_ν = {:.4e}",
            0.5 * h.lambda0,
            h.w2_path_rho_at_t_half.unwrap_or(f64::NAN),
            h.w2_path_nu_at_t_half.unwrap_or(f64::NAN),
            h.t_inside,
            h.w2_path_rho_inside,
            h.w2_path_nu_inside
        ),
        None => format!(
            "t_half not reached by t = {} (λ_min(G) ≥ λ_min(G(0))/2 = {:.4e} throughout); W2 path bounds at the end: A_ρ = {:.4e}, A_ν = {:.4e}",
            h.t_inside, 0.5 * h.lambda0, h.w2_path_rho_inside, h.w2_path_nu_inside
        ),
    };
    push("t_half", Verdict::Info, d);
    if h.defined {
        push(
            "linear_convergence_inside_ball",
            verdict(h.linear_holds),
            format!("L(t) ≤ L(0)exp(−λ_min(G(0))t/n) for t ≤ {}: worst ratio {:.6}", h.t_inside, h.linear_worst_ratio),
        );
    } else {
        push(
            "linear_convergence_inside_ball",
            Verdict::Info,
            "λ_min(G(0)) is not positive beyond round-off: no rate to check".into(),
        );
    }
    let r = &a.rate;
    push(
        "exponential_rate",
        if r.fitted.is_nan() { Verdict::Info } else { verdict(r.holds) },
        format!(
            "fitted rate −d ln L/dt = {:.4e} (average {:.4e}) ≥ 2λ_min(G)/n: min {:.4e}, mean {:.4e} (ratio fitted/mean {:.1}); \
             mean of (rᵀGr/n²)/L, the rate of the identity, {:.4e}",
            r.fitted,
            r.average,
            r.gram_min,
            r.gram_mean,
            r.fitted / r.gram_mean,
            r.rayleigh_mean
        ),
    );
    let k = &a.kl;
    push(
        "kl_bounded",
        verdict(k.finite),
        format!(
            "KL_ρ = {:.4e}, KL_ν = {:.4e} at the end, max total {:.4e}; growth over the last quarter of the run {:.1}% (finite is what a finite run checks)",
            k.final_rho,
            k.final_nu,
            k.max_total,
            100.0 * k.growth_last_quarter
        ),
    );
    let gz = &a.generalisation;
    push(
        "generalisation_gap",
        Verdict::Info,
        match gz.gap {
            Some(gap) => format!(
                "test − train loss = {gap:.4e} (train {:.4e}, test {:.4e}); β√(KL/n) = {:.4e}",
                gz.train_loss,
                gz.test_loss.unwrap_or(f64::NAN),
                gz.rademacher_scale
            ),
            None => format!("no test set; β√(KL/n) = {:.4e}", gz.rademacher_scale),
        },
    );
    out
}

/// Prints one line per claim.
pub fn print_claims(a: &Analysis) {
    for c in &a.claims {
        let v = match c.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Info => "INFO",
        };
        println!("{v}  {:<32} {}", c.name, c.detail);
    }
}

/// Runs the grid solver on `config`, writing the usual run files into `dir`
/// when given, and returns the rows with the analysis.
pub fn run_and_analyse(problem: &mut Problem, dir: Option<&OutputDir>, quiet: bool) -> Result<(Vec<Row>, Analysis, Termination)> {
    let n = problem.data.n_train();
    let beta = problem.config.model.beta;
    let (rows, report, last_state) = match dir {
        Some(dir) => {
            let show = !quiet && std::io::stderr().is_terminal();
            let mut writer = RunWriter::new(dir.clone(), problem.config.time.t_end, show)?;
            let report = problem.run(&mut writer)?;
            writer.finish();
            (writer.rows.clone(), report, writer.last_state.clone())
        }
        None => {
            let mut c = crate::run::Collect::default();
            let report = problem.run(&mut c)?;
            (c.rows, report, Vec::new())
        }
    };
    if let (Some(dir), false) = (dir, last_state.is_empty()) {
        write_last(dir, problem, &last_state)?;
        crate::figures::run_figures(dir, problem, &rows, &last_state)?;
    }
    let analysis = analyse(&rows, n, beta, &problem.degeneracy);
    Ok((rows, analysis, report.termination))
}

/// The last density snapshot and the predictions, as `run` writes them.
fn write_last(dir: &OutputDir, problem: &mut Problem, state: &[f64]) -> Result<()> {
    problem.flow.update_atoms(state);
    io::write_density_snapshots(dir, &problem.flow, state, "last")?;
    let data = &problem.data;
    let f_train = problem.flow.predict(&data.x_train);
    let f_test = problem.flow.predict(&data.x_test);
    io::write_predictions(
        &dir.file("predictions.csv"),
        data.d,
        &[("train", &data.x_train, &data.y_train, &f_train), ("test", &data.x_test, &data.y_test, &f_test)],
    )
}

/// The `theory` command.
pub fn command(config: Config, out: &Path, force: bool, quiet: bool) -> Result<()> {
    let mut problem = Problem::from_config(config)?;
    let ours: Vec<&str> = io::RUN_FILES.iter().chain(crate::figures::FIGURE_FILES).chain(THEORY_FILES).copied().collect();
    let dir = OutputDir::prepare(out, force, &ours)?;
    let (_rows, mut analysis, termination) = run_and_analyse(&mut problem, Some(&dir), quiet)?;
    let warn = problem.config.grid.outflow_warning;
    if analysis.outflow > warn {
        analysis.warnings.push(format!(
            "mass left the box (outflow {:.3e} > grid.outflow_warning = {warn:.0e}): the grid no longer holds the densities; increase grid.half_width",
            analysis.outflow
        ));
    }
    if analysis.gram_bound.energy_identity_gap > 0.1 {
        analysis.warnings.push(format!(
            "dL/dt of the grid system differs from −rᵀGr/n² by up to {:.0}%: the bound is not tested at this resolution",
            100.0 * analysis.gram_bound.energy_identity_gap
        ));
    }
    let doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "data": problem.data.name,
        "termination": termination,
        "analysis": analysis,
        "config": problem.config,
    });
    io::write_json(&dir.file("theory.json"), &doc)?;
    crate::figures::theory_figures(&dir, &analysis)?;
    println!("mfres theory — {} (n = {})", problem.data.name, analysis.n);
    if let Termination::Unstable { t, .. } = &termination {
        println!("  the run stopped at t = {t:.6} (cause below): the checks cover the output times before it");
    }
    print_claims(&analysis);
    for w in &analysis.warnings {
        eprintln!("warning: {w}");
    }
    println!("  results in {}/", dir.path.display());
    match termination {
        Termination::Unstable { t, cause } => Err(Error::Unstable { t, cause }),
        Termination::ReachedTime { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratures_of_a_monotone_function_bracket_the_integral() {
        // λ(t) = e^{−t} on [0, 2] at spacing 0.5: lower sum ≤ ∫ = 1 − e^{−2} ≤ trapezoid.
        let t: Vec<f64> = (0..=4).map(|k| 0.5 * k as f64).collect();
        let f: Vec<f64> = t.iter().map(|x| (-x).exp()).collect();
        let (lo, tr) = cumulative_integrals(&t, &f);
        let exact = 1.0 - (-2.0f64).exp();
        assert!(lo[4] < exact && exact < tr[4], "{} {exact} {}", lo[4], tr[4]);
        assert_eq!(lo[0], 0.0);
    }

    #[test]
    fn ls_slope_of_a_line() {
        let x = [1.0, 2.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 0.5 * v).collect();
        assert!((ls_slope(&x, &y).unwrap() + 0.5).abs() < 1e-14);
        assert!(ls_slope(&[1.0], &[2.0]).is_none());
        assert!(ls_slope(&[1.0, 1.0], &[2.0, 3.0]).is_none());
    }

    fn row(t: f64, loss: f64, lam: f64) -> Row {
        Row { t, loss, lambda_min_g: lam, lambda_min_g2: lam, lambda_max_g: 1.0, ..Default::default() }
    }

    #[test]
    fn analysis_of_an_exact_exponential() {
        // L = e^{−2λt/n} with constant λ: the bound is attained (ratio 1), the rate equals 2λ/n.
        let (n, lam) = (4usize, 0.3);
        let rows: Vec<Row> = (0..=10).map(|k| {
            let t = 0.5 * k as f64;
            row(t, (-2.0 * lam * t / n as f64).exp(), lam)
        }).collect();
        let a = analyse(&rows, n, 1.0, &Degeneracy::default());
        assert!(a.gram_bound.holds_lower && a.gram_bound.holds_trapezoid);
        assert!((a.gram_bound.worst_ratio_lower - 1.0).abs() < 1e-12);
        assert!((a.rate.fitted - 2.0 * lam / n as f64).abs() < 1e-12);
        assert!(a.half.t_half.is_none());
        assert!(a.initial.positive);
        // A loss that decays slower than the bound allows fails it.
        let mut slow = rows.clone();
        slow[5].loss *= 1.01;
        let b = analyse(&slow, n, 1.0, &Degeneracy::default());
        assert!(!b.gram_bound.holds_lower);
        assert_eq!(b.gram_bound.worst_ratio_lower_t, 2.5);
        assert_eq!(b.claims.iter().find(|c| c.name == "gram_bound").unwrap().verdict, Verdict::Fail);
        assert!(b.loss_increases.is_empty());
        let mut up = rows.clone();
        up[7].loss = up[6].loss * 1.5;
        let c = analyse(&up, n, 1.0, &Degeneracy::default());
        assert_eq!(c.loss_increases, vec![3.5]);
        assert_eq!(c.claims[0].verdict, Verdict::Fail);
    }

    #[test]
    fn t_half_is_undefined_at_round_off() {
        let rows: Vec<Row> = (0..3).map(|k| row(k as f64, 1.0 - 0.1 * k as f64, 1e-16)).collect();
        assert_eq!(half_time(&rows), HalfTime::Undefined);
        let a = analyse(&rows, 2, 1.0, &Degeneracy::default());
        assert!(!a.half.defined && a.half.t_half.is_none() && !a.initial.positive);
        assert_eq!(a.claims.iter().find(|c| c.name == "linear_convergence_inside_ball").unwrap().verdict, Verdict::Info);
    }

    #[test]
    fn t_half_is_the_first_time_below_half() {
        let lams = [1.0, 0.8, 0.6, 0.49, 0.3];
        let rows: Vec<Row> = lams.iter().enumerate().map(|(k, &l)| row(k as f64, (-(k as f64)).exp(), l)).collect();
        let a = analyse(&rows, 2, 1.0, &Degeneracy::default());
        assert_eq!(a.half.t_half, Some(3.0));
        assert_eq!(a.half.t_inside, 2.0);
    }
}
