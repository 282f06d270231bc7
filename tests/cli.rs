//! The command line: outputs, bad input (exit 2, nothing overwritten), unstable runs and
//! runs too stiff to integrate (exit 3).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn mfres() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfres"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfres-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

const SMALL: &[&str] = &[
    "--set", "grid.cells=12", "--set", "grid.cells_nu=12", "--set", "grid.depth=2",
    "--set", "time.t_end=0.5", "--set", "data.n_train=6",
];

#[test]
fn run_writes_every_output_and_gram_prints_json() {
    let out = tmp("run");
    let st = mfres().arg("run").args(SMALL).arg("--out").arg(&out).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(stdout.contains("loss factor"), "{stdout}");
    let ts = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let header = ts.lines().next().unwrap();
    for col in ["t", "loss", "test_loss", "lambda_min_g1", "lambda_min_g2", "lambda_min_g", "lambda_max_g", "kl_rho", "kl_nu",
        "w2_path_rho", "w2_path_nu", "mass_rho", "mass_nu", "min_density", "outflow_rho", "outflow_nu", "dissipation_gram",
        "dissipation_observed", "dt"] {
        assert!(header.split(',').any(|c| c == col), "missing column {col}");
    }
    // The last row is at exactly t_end.
    let last = ts.lines().last().unwrap();
    assert_eq!(last.split(',').next().unwrap(), "0.5");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["config"]["grid"]["cells"], 12);
    assert!(summary["loss_factor"].as_f64().unwrap() > 1.0);
    let pred = fs::read_to_string(out.join("predictions.csv")).unwrap();
    assert!(pred.starts_with("x1,y,f,split"));
    for f in ["rho_slice0_first.npy", "rho_slice1_last.npy", "nu_first.npy", "nu_last.npy"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let g = mfres().arg("gram").args(SMALL).output().unwrap();
    assert!(g.status.success());
    let json: serde_json::Value = serde_json::from_slice(&g.stdout).unwrap();
    assert_eq!(json["n"], 6);
    assert!(json["lambda_min_g2"].as_f64().unwrap() > 0.0);
    fs::remove_dir_all(&out).unwrap();
}

fn expect_exit(args: &[&str], code: i32, needle: &str) {
    let st = mfres().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: '{err}' does not name '{needle}'");
    assert_eq!(err.trim().lines().count(), 1, "one-line error expected: {err}");
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_2() {
    expect_exit(&["gram", "--set", "model.betta=2"], 2, "model.betta");
    expect_exit(&["gram", "--set", "model.beta=-1"], 2, "model.beta");
    expect_exit(&["gram", "--set", "grid.scheme=weno"], 2, "grid.scheme");
    expect_exit(&["gram", "--set", "model.activation=relu"], 2, "model.activation");
    expect_exit(&["gram", "--set", "time.cfl=3"], 2, "time.cfl");
    expect_exit(&["gram", "/nonexistent/config.toml"], 2, "/nonexistent/config.toml");
    expect_exit(&["gram", "--set", "data.source=\"csv:/nonexistent/data.csv\""], 2, "/nonexistent/data.csv");
    let dir = tmp("csv");
    fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("bad.csv");
    fs::write(&csv, "x,y\n0.1,1\n0.2,NaN\n").unwrap();
    let set = format!("data.source=\"csv:{}\"", csv.display());
    expect_exit(&["gram", "--set", &set], 2, "row 3");
    fs::write(&csv, "a,b\n0.1,1\n").unwrap();
    expect_exit(&["gram", "--set", &set], 2, "header");
    let cfg = dir.join("bad.toml");
    fs::write(&cfg, "[grid]\ncells = \"many\"\n").unwrap();
    expect_exit(&["gram", cfg.to_str().unwrap()], 2, "grid.cells");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_output_folder_is_never_overwritten() {
    let out = tmp("keep");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("timeseries.csv"), "precious").unwrap();
    let mut args: Vec<&str> = vec!["run"];
    args.extend_from_slice(SMALL);
    let o = out.to_str().unwrap();
    args.extend_from_slice(&["--out", o]);
    expect_exit(&args, 2, "already holds results");
    assert_eq!(fs::read_to_string(out.join("timeseries.csv")).unwrap(), "precious");
    // A bad key with --force still touches nothing.
    let mut bad = args.clone();
    bad.extend_from_slice(&["--force", "--set", "model.beta=0"]);
    expect_exit(&bad, 2, "model.beta");
    assert_eq!(fs::read_to_string(out.join("timeseries.csv")).unwrap(), "precious");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn an_unstable_run_stops_with_time_and_cause_and_keeps_its_rows() {
    let out = tmp("unstable");
    let st = mfres()
        .arg("run")
        .args(SMALL)
        .args(["--set", "time.dt=0.01", "--set", "time.output_every=0.005", "--set", "model.beta=40"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(3), "{err}");
    assert!(err.contains("run stopped at t = ") && err.contains("CFL"), "{err}");
    let ts = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.lines().count() >= 2, "rows written so far are kept: {ts}");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["termination"]["reason"], "unstable");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn particles_write_the_run_files_and_positions_in_any_d() {
    let out = tmp("particles");
    let st = mfres().args(["particles", "--width", "40", "--out-width", "30", "--seed", "3"]).args(SMALL).arg("--out").arg(&out).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let ts = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.lines().next().unwrap().contains("kl_nu_transport"));
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["particles"]["width"], 40);
    assert_eq!(summary["particles"]["out_width"], 30);
    for (f, rows, cols) in [("particles_layer1_last.npy", 40, 2), ("particles_output_first.npy", 30, 3)] {
        let bytes = fs::read(out.join(f)).unwrap();
        let header = String::from_utf8_lossy(&bytes[..128]);
        assert!(header.contains(&format!("'shape': ({rows}, {cols},")), "{f}: {header}");
    }
    // d = 3 from a CSV, beyond the grid solver: the particle solver takes it.
    let csv = out.join("d3.csv");
    let mut text = String::from("x1,x2,x3,y\n");
    for i in 0..12 {
        let t = i as f64 * 0.5;
        text += &format!("{},{},{},{}\n", t.cos(), t.sin(), 0.1 * t, (2.0 * t).sin());
    }
    fs::write(&csv, text).unwrap();
    let out3 = tmp("particles-d3");
    let set = format!("data.source=\"csv:{}\"", csv.display());
    let st = mfres()
        .args(["particles", "--width", "16", "--quiet", "--set", &set, "--set", "model.d=3", "--set", "data.n_train=8", "--set", "time.t_end=0.5"])
        .arg("--out")
        .arg(&out3)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let bytes = fs::read(out3.join("particles_layer0_first.npy")).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("'shape': (16, 6,"));
    expect_exit(&["run", "--set", &set, "--set", "model.d=3"], 2, "model.d");
    expect_exit(&["particles", "--width", "0"], 2, "--width");
    fs::remove_dir_all(&out).unwrap();
    fs::remove_dir_all(&out3).unwrap();
}

#[test]
fn compare_writes_its_table_and_files() {
    let out = tmp("compare");
    let st = mfres()
        .args(["compare", "--widths", "16,256", "--seeds", "2", "--quiet"])
        .args(SMALL)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(st.status.code() == Some(0) || st.status.code() == Some(4), "{}", String::from_utf8_lossy(&st.stderr));
    assert!(stdout.contains("slope"), "{stdout}");
    let table = fs::read_to_string(out.join("compare.csv")).unwrap();
    assert!(table.starts_with("width,seeds,wall_seconds,loss_end_mean"), "{table}");
    assert_eq!(table.lines().count(), 4, "header, two widths, slopes: {table}");
    assert_eq!(fs::read_to_string(out.join("compare_runs.csv")).unwrap().lines().count(), 5);
    for f in ["compare_loss.csv", "compare.json", "compare_loss.svg", "compare_slopes.svg"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let svg = fs::read_to_string(out.join("compare_loss.svg")).unwrap();
    assert!(svg.contains("particles M = 256") && svg.contains("grid"));
    expect_exit(&["compare", "--widths", "64"], 2, "--widths");
    expect_exit(&["compare", "--widths", "64,x"], 2, "--widths");
    expect_exit(&["compare", "--seeds", "0"], 2, "--seeds");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn blow_ups_stop_cleanly_and_force_spares_foreign_files() {
    // A fixed step far too long for the particles: exit 3 with the cause, not a panic or a
    // "reached t" with a loss of 1e146.
    let out = tmp("blowup");
    let st = mfres()
        .args(["particles", "--width", "64", "--quiet"])
        .args(SMALL)
        .args(["--set", "time.dt=0.25", "--set", "time.t_end=2", "--set", "model.beta=50"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(3), "{err}");
    assert!(err.contains("loss grew"), "{err}");
    expect_exit(&["compare", "--seeds", "100000"], 2, "--seeds");
    expect_exit(&["particles", "--width", "1", "--set", "model.init_std_nu=1e-200"], 2, "model.init_std_nu");
    // --force removes the command's own files only, not a foreign file that shares a prefix.
    fs::write(out.join("rho_slice_notes.txt"), "mine").unwrap();
    let st = mfres().arg("run").args(SMALL).arg("--out").arg(&out).args(["--force", "--quiet"]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    assert_eq!(fs::read_to_string(out.join("rho_slice_notes.txt")).unwrap(), "mine");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_run_whose_residuals_relax_too_fast_stops_at_once_instead_of_crawling() {
    // β = 1e4 makes λ_max(G)/n ≈ 6e7: an adaptive run would need ~1e8 steps.
    let out = tmp("stiff");
    let st = mfres().arg("run").args(SMALL).args(["--set", "model.beta=1e4"]).arg("--out").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(3), "{err}");
    assert!(err.contains("run stopped at t = 0.000000") && err.contains("relaxation of the residuals"), "{err}");
    assert!(fs::read_to_string(out.join("timeseries.csv")).unwrap().lines().count() >= 2, "the initial row is kept");
    fs::remove_dir_all(&out).unwrap();
}
