//! Data: the built-in real data set, CSV files, a synthetic circle set; duplicate
//! handling, standardisation, a seeded train/test split, and a report of the
//! input configurations that make λ_min(G2) vanish.
//!
//! Degenerate inputs (model section 3): repeated inputs make G2 singular for every
//! activation; for an odd activation without output bias, so do mirrored inputs
//! x_j = −x_i and an input x_i = 0 (then ∇_ω h(−x) = −∇_ω h(x) and ∇_ω h(0) = 0).

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::config::{Config, DataSource};
use crate::error::{Error, Result};
use crate::model::Activation;

const BUILTIN_CSV: &str = include_str!("../data/diabetes_bmi.csv");
const BUILTIN_NAME: &str = "diabetes (Efron et al. 2004): BMI → disease progression";

/// Affine maps to the standardised units the model sees.
#[derive(Clone, Debug, Serialize)]
pub struct Standardisation {
    pub x_mean: Vec<f64>,
    pub x_std: Vec<f64>,
    pub y_mean: f64,
    pub y_std: f64,
}

/// Pairs and points that make λ_min(G2) = 0 (indices into the training set).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Degeneracy {
    pub repeated: Vec<(usize, usize)>,
    pub mirrored: Vec<(usize, usize)>,
    pub zero: Vec<usize>,
    pub linear_rank: Option<usize>,
}

impl Degeneracy {
    /// Detects the causes of a singular G2 for the training inputs (row-major n × d).
    pub fn detect(x: &[f64], d: usize, activation: Activation, output_bias: bool) -> Self {
        let n = x.len() / d;
        let row = |i: usize| &x[i * d..(i + 1) * d];
        let mut out = Degeneracy::default();
        let odd_no_bias = activation.is_odd() && !output_bias;
        for i in 0..n {
            if odd_no_bias && row(i).iter().all(|v| *v == 0.0) {
                out.zero.push(i);
            }
            for j in 0..i {
                if row(i) == row(j) {
                    out.repeated.push((j, i));
                } else if odd_no_bias && row(i).iter().zip(row(j)).all(|(a, b)| *a == -*b) {
                    out.mirrored.push((j, i));
                }
            }
        }
        if activation == Activation::Linear {
            // h = a(c·z + e) spans z ↦ (1, z) linear functions: rank ≤ d (+1) for G2.
            out.linear_rank = Some(d + usize::from(output_bias));
        }
        out
    }

    pub fn is_degenerate(&self, n: usize) -> bool {
        !self.repeated.is_empty()
            || !self.mirrored.is_empty()
            || !self.zero.is_empty()
            || self.linear_rank.is_some_and(|r| r < n)
    }

    /// One line naming every detected cause, or None.
    pub fn describe(&self, n: usize) -> Option<String> {
        let mut parts = Vec::new();
        if !self.repeated.is_empty() {
            let (i, j) = self.repeated[0];
            parts.push(format!("{} repeated input pair(s), e.g. training points {i} and {j}", self.repeated.len()));
        }
        if !self.mirrored.is_empty() {
            let (i, j) = self.mirrored[0];
            parts.push(format!(
                "{} mirrored input pair(s) x_j = −x_i with an odd activation and no output bias, e.g. {i} and {j}",
                self.mirrored.len()
            ));
        }
        if !self.zero.is_empty() {
            parts.push(format!("input x = 0 with an odd activation and no output bias at training point(s) {:?}", self.zero));
        }
        if let Some(r) = self.linear_rank.filter(|&r| r < n) {
            parts.push(format!("linear activation: G2 has rank ≤ {r} < n = {n}"));
        }
        if parts.is_empty() { None } else { Some(parts.join("; ")) }
    }
}

/// Training and test sets in standardised units.
#[derive(Clone, Debug, Serialize)]
pub struct Dataset {
    pub name: String,
    pub d: usize,
    pub x_train: Vec<f64>,
    pub y_train: Vec<f64>,
    pub x_test: Vec<f64>,
    pub y_test: Vec<f64>,
    pub standardisation: Option<Standardisation>,
    /// Rows read before duplicate handling.
    pub rows_read: usize,
    /// Rows merged by duplicate averaging.
    pub rows_merged: usize,
}

impl Dataset {
    pub fn n_train(&self) -> usize {
        self.y_train.len()
    }
    pub fn n_test(&self) -> usize {
        self.y_test.len()
    }
}

/// Parses a CSV with header `x1,..,xd,y` (or `x,y` for d = 1).
pub fn parse_csv(text: &str, d: usize, origin: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let err = |msg: String| Error::Data { path: origin.to_string(), msg };
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers().map_err(|e| err(format!("header: {e}")))?.iter().map(|s| s.to_string()).collect();
    let mut expected: Vec<String> = (1..=d).map(|j| format!("x{j}")).collect();
    expected.push("y".into());
    let accepted_1d = d == 1 && header == ["x", "y"];
    if header != expected && !accepted_1d {
        return Err(err(format!("header is '{}', expected '{}' for d = {d}", header.join(","), expected.join(","))));
    }
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (k, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| err(format!("row {}: {e}", k + 2)))?;
        // Row numbers are file line numbers (blank lines are skipped but counted).
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(k + 2);
        if rec.len() != d + 1 {
            return Err(err(format!("row {line}: {} fields, expected {}", rec.len(), d + 1)));
        }
        for (j, field) in rec.iter().enumerate() {
            let v: f64 = field
                .parse()
                .map_err(|_| err(format!("row {line}, column '{}': '{field}' is not a number", header[j])))?;
            if !v.is_finite() {
                return Err(err(format!("row {line}, column '{}': '{field}' is not finite", header[j])));
            }
            if j < d { x.push(v) } else { y.push(v) }
        }
    }
    if y.is_empty() {
        return Err(err("no data rows".into()));
    }
    Ok((x, y))
}

/// Merges rows with identical inputs into one row with the mean target (first-seen order).
fn average_duplicates(x: &[f64], y: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut keys: Vec<Vec<u64>> = Vec::new();
    let mut sums: Vec<(f64, usize)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (i, yi) in y.iter().enumerate() {
        let key: Vec<u64> = x[i * d..(i + 1) * d].iter().map(|v| (v + 0.0).to_bits()).collect();
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            sums.push((0.0, 0));
            sums.len() - 1
        });
        sums[slot].0 += yi;
        sums[slot].1 += 1;
    }
    let xo = keys.iter().flat_map(|k| k.iter().map(|b| f64::from_bits(*b))).collect();
    let yo = sums.iter().map(|(s, c)| s / *c as f64).collect();
    (xo, yo)
}

fn standardise(x: &mut [f64], y: &mut [f64], d: usize, origin: &str) -> Result<Standardisation> {
    let constant = |v: &[f64]| v.iter().all(|a| *a == v[0]);
    for j in 0..d {
        let col: Vec<f64> = x.iter().skip(j).step_by(d).copied().collect();
        if constant(&col) {
            return Err(Error::Data { path: origin.into(), msg: format!("column 'x{}' is constant: the inputs cannot be standardised", j + 1) });
        }
    }
    if constant(y) {
        return Err(Error::Data { path: origin.into(), msg: "column 'y' is constant: nothing to learn".into() });
    }
    let st = standardise_columns(x, y, d);
    if let Some(j) = st.x_std.iter().position(|s| !s.is_finite()) {
        return Err(Error::Data { path: origin.into(), msg: format!("column 'x{}' has values too large to standardise (its spread overflows)", j + 1) });
    }
    if !st.y_std.is_finite() {
        return Err(Error::Data { path: origin.into(), msg: "column 'y' has values too large to standardise (its spread overflows)".into() });
    }
    Ok(st)
}

fn standardise_columns(x: &mut [f64], y: &mut [f64], d: usize) -> Standardisation {
    let n = y.len() as f64;
    let mean_std = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let s = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64).sqrt();
        (m, if s > 0.0 { s } else { 1.0 })
    };
    let mut x_mean = vec![0.0; d];
    let mut x_std = vec![1.0; d];
    for j in 0..d {
        let col: Vec<f64> = x.iter().skip(j).step_by(d).copied().collect();
        let (m, s) = mean_std(&col);
        x_mean[j] = m;
        x_std[j] = s;
        for v in x.iter_mut().skip(j).step_by(d) {
            *v = (*v - m) / s;
        }
    }
    let (ym, ys) = mean_std(y);
    for v in y.iter_mut() {
        *v = (*v - ym) / ys;
    }
    let _ = n;
    Standardisation { x_mean, x_std, y_mean: ym, y_std: ys }
}

/// Target of the circle data set at angle φ.
pub fn circle_target(phi: f64) -> f64 {
    phi.sin() + 0.5 * (2.0 * phi).cos()
}

/// Loads and splits the data a configuration asks for.
pub fn load(cfg: &Config, source: &DataSource) -> Result<Dataset> {
    let dc = &cfg.data;
    let d = cfg.model.d;
    let mut rng = rand::rngs::StdRng::seed_from_u64(dc.seed);
    let (name, mut x, mut y) = match source {
        DataSource::Circle => {
            let n_test = ((dc.n_train as f64) * dc.test_fraction / (1.0 - dc.test_fraction)).round() as usize;
            let mut x = Vec::new();
            let mut y = Vec::new();
            for _ in 0..dc.n_train + n_test {
                let phi: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                x.extend_from_slice(&[phi.cos(), phi.sin()]);
                y.push(circle_target(phi));
            }
            // The circle set is generated split: the first n_train points train.
            let n = dc.n_train;
            return Ok(Dataset {
                name: "circle: x = (cos φ, sin φ), y = sin φ + ½ cos 2φ".into(),
                d,
                x_train: x[..n * d].to_vec(),
                y_train: y[..n].to_vec(),
                x_test: x[n * d..].to_vec(),
                y_test: y[n..].to_vec(),
                standardisation: None,
                rows_read: n + n_test,
                rows_merged: 0,
            });
        }
        DataSource::Builtin => {
            let (x, y) = parse_csv(BUILTIN_CSV, 1, "builtin")?;
            (BUILTIN_NAME.to_string(), x, y)
        }
        DataSource::Csv(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Input { path: path.into(), source: e })?;
            let (x, y) = parse_csv(&text, d, path)?;
            (path.clone(), x, y)
        }
    };
    let rows_read = y.len();
    if dc.duplicates == "average" {
        (x, y) = average_duplicates(&x, &y, d);
    }
    let rows_merged = rows_read - y.len();
    let standardisation = if dc.standardise { Some(standardise(&mut x, &mut y, d, &name)?) } else { None };
    let n = y.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let n_test = ((n as f64) * dc.test_fraction).round() as usize;
    let (test_idx, pool) = order.split_at(n_test);
    if pool.is_empty() {
        return Err(Error::config("data.test_fraction", format!("leaves no training points of the {n}")));
    }
    let n_train = if dc.n_train == 0 { pool.len() } else { dc.n_train };
    if n_train > pool.len() {
        return Err(Error::config(
            "data.n_train",
            format!("{n_train} exceeds the {} points left after the test split", pool.len()),
        ));
    }
    let mut train_idx: Vec<usize> = pool.to_vec();
    if dc.selection == "spread" {
        train_idx.sort_by(|&a, &b| x[a * d].total_cmp(&x[b * d]).then(a.cmp(&b)));
        let m = train_idx.len();
        let picks: Vec<usize> = if n_train == 1 {
            vec![m / 2]
        } else {
            (0..n_train).map(|k| ((k * (m - 1)) as f64 / (n_train - 1) as f64).round() as usize).collect()
        };
        let chosen: Vec<usize> = picks.iter().map(|&p| train_idx[p]).collect();
        train_idx = chosen;
    } else {
        // Points past n_train are neither trained on nor tested.
        train_idx.truncate(n_train);
    }
    let gather = |idx: &[usize]| {
        let mut xs = Vec::with_capacity(idx.len() * d);
        let mut ys = Vec::with_capacity(idx.len());
        for &i in idx {
            xs.extend_from_slice(&x[i * d..(i + 1) * d]);
            ys.push(y[i]);
        }
        (xs, ys)
    };
    let (x_train, y_train) = gather(&train_idx);
    let (x_test, y_test) = gather(test_idx);
    Ok(Dataset { name, d, x_train, y_train, x_test, y_test, standardisation, rows_read, rows_merged })
}
