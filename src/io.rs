//! Output files: an output folder that never loses existing results, the
//! time series written row by row as it is produced, `.npy` snapshots, JSON
//! written atomically (temporary file, then rename).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use npyz::WriterBuilder;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::eulerian::GridFlow;
use crate::lagrangian::ParticleFlow;
use crate::run::{Observer, Row};

/// A folder for results, checked before any work is done.
#[derive(Clone, Debug)]
pub struct OutputDir {
    pub path: PathBuf,
}

impl OutputDir {
    /// Refuses a folder that already has entries unless `force`; with `force`,
    /// removes only the files named in `ours` (prefix matches for names ending in '*').
    pub fn prepare(path: &Path, force: bool, ours: &[&str]) -> Result<OutputDir> {
        if path.exists() {
            if !path.is_dir() {
                return Err(Error::OutputNotFolder { path: path.into() });
            }
            let entries: Vec<String> = fs::read_dir(path)
                .map_err(|e| Error::output(path, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if !entries.is_empty() {
                if !force {
                    let mut sorted = entries.clone();
                    sorted.sort();
                    return Err(Error::OutputExists { path: path.into(), file: sorted[0].clone() });
                }
                for name in &entries {
                    // "prefix*suffix" patterns; the suffix keeps foreign files out.
                    let matches = ours.iter().any(|o| match o.split_once('*') {
                        Some((prefix, suffix)) => {
                            name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
                        }
                        None => name == o,
                    });
                    if matches {
                        fs::remove_file(path.join(name)).map_err(|e| Error::output(path.join(name), e))?;
                    }
                }
            }
        }
        fs::create_dir_all(path).map_err(|e| Error::output(path, e))?;
        Ok(OutputDir { path: path.into() })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::output(path, e))?;
    fs::write(&tmp, text + "\n").map_err(|e| Error::output(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::output(path, e))
}

/// Writes a C-order f64 array.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::output(path, e))?;
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(|e| Error::output(path, e))?;
    w.extend(data.iter().copied()).map_err(|e| Error::output(path, e))?;
    w.finish().map_err(|e| Error::output(path, e))
}

/// Writes a whole CSV table (header and rows of strings).
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    w.write_record(header).map_err(|e| Error::output(path, e))?;
    for r in rows {
        w.write_record(r).map_err(|e| Error::output(path, e))?;
    }
    w.flush().map_err(|e| Error::output(path, e))
}

/// CSV rows written and flushed one at a time, so a run that stops keeps them.
pub struct RowWriter {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl RowWriter {
    pub fn create(path: &Path) -> Result<Self> {
        let writer = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
        Ok(RowWriter { path: path.into(), writer })
    }
    pub fn write<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.writer.serialize(row).map_err(|e| Error::output(&self.path, e))?;
        self.writer.flush().map_err(|e| Error::output(&self.path, e))
    }
}

/// A flow whose state can be written as `.npy` snapshots tagged `first` / `last`.
pub trait Snapshot {
    fn write_snapshot(&self, dir: &OutputDir, state: &[f64], tag: &str) -> Result<()>;
}

/// Densities (cell masses / h^k) of every part, shape [N; k], named
/// `rho_slice{l}_{tag}.npy` and `nu_{tag}.npy`.
pub fn write_density_snapshots(dir: &OutputDir, flow: &GridFlow, state: &[f64], tag: &str) -> Result<()> {
    let s = flow.depth();
    for (i, part) in flow.parts.iter().enumerate() {
        let vol = part.grid.cell_volume();
        let dens: Vec<f64> = flow.layout.part(state, i).iter().map(|p| p / vol).collect();
        let shape = vec![part.grid.cells; part.grid.k];
        let name = if i < s { format!("rho_slice{i}_{tag}.npy") } else { format!("nu_{tag}.npy") };
        write_npy(&dir.file(&name), &shape, &dens)?;
    }
    Ok(())
}

impl Snapshot for GridFlow {
    fn write_snapshot(&self, dir: &OutputDir, state: &[f64], tag: &str) -> Result<()> {
        write_density_snapshots(dir, self, state, tag)
    }
}

/// Particle positions of every layer, shape [M, k_ρ] (`particles_layer{l}_{tag}.npy`)
/// and [M_out, k_ν] (`particles_output_{tag}.npy`), coordinates in block order
/// (u, w[, b]) and (a, c[, e]).
impl Snapshot for ParticleFlow {
    fn write_snapshot(&self, dir: &OutputDir, state: &[f64], tag: &str) -> Result<()> {
        let lay = &self.layout;
        for i in 0..lay.parts() {
            let name = if i < lay.depth { format!("particles_layer{i}_{tag}.npy") } else { format!("particles_output_{tag}.npy") };
            write_npy(&dir.file(&name), &[lay.count(i), lay.k(i)], lay.positions(state, i))?;
        }
        Ok(())
    }
}

/// The files a grid run writes (for `--force`).
pub const RUN_FILES: &[&str] =
    &["timeseries.csv", "summary.json", "predictions.csv", "rho_slice*.npy", "nu_first.npy", "nu_last.npy", "summary.json.tmp"];

/// The files a particle run writes (for `--force`).
pub const PARTICLE_FILES: &[&str] =
    &["timeseries.csv", "summary.json", "predictions.csv", "particles_layer*.npy", "particles_output_*.npy", "summary.json.tmp"];

/// Observer of a run: the time series row by row, the first snapshot at
/// once, the latest state kept for the last snapshot, a progress bar on stderr.
pub struct RunWriter {
    pub dir: OutputDir,
    csv: RowWriter,
    pub last_state: Vec<f64>,
    pub rows_written: usize,
    /// Every row written, for the figures drawn at the end.
    pub rows: Vec<Row>,
    bar: ProgressBar,
    t_end: f64,
}

impl RunWriter {
    pub fn new(dir: OutputDir, t_end: f64, show_progress: bool) -> Result<Self> {
        let csv = RowWriter::create(&dir.file("timeseries.csv"))?;
        let bar = if show_progress { ProgressBar::new(1000) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} t = {msg}")
                .expect("valid template"),
        );
        Ok(RunWriter { dir, csv, last_state: Vec::new(), rows_written: 0, rows: Vec::new(), bar, t_end })
    }
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl<F: Snapshot> Observer<F> for RunWriter {
    fn row(&mut self, row: &Row, flow: &F, state: &[f64]) -> Result<()> {
        self.csv.write(row)?;
        self.rows.push(row.clone());
        if self.rows_written == 0 {
            flow.write_snapshot(&self.dir, state, "first")?;
        }
        self.rows_written += 1;
        self.last_state.clear();
        self.last_state.extend_from_slice(state);
        Ok(())
    }
    fn progress(&mut self, t: f64) {
        self.bar.set_position((1000.0 * t / self.t_end) as u64);
        self.bar.set_message(format!("{t:.4}"));
    }
}

/// `x1..xd, y, f, split` for the training and test points.
pub fn write_predictions(path: &Path, d: usize, sets: &[(&str, &[f64], &[f64], &[f64])]) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::output(path, e))?;
    let mut w = BufWriter::new(file);
    let header: Vec<String> = (1..=d).map(|j| format!("x{j}")).chain(["y".into(), "f".into(), "split".into()]).collect();
    let mut text = header.join(",") + "\n";
    for (name, x, y, f) in sets {
        for i in 0..y.len() {
            for j in 0..d {
                text += &format!("{},", x[i * d + j]);
            }
            text += &format!("{},{},{}\n", y[i], f[i], name);
        }
    }
    w.write_all(text.as_bytes()).map_err(|e| Error::output(path, e))
}
