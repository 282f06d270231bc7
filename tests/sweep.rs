//! Sweeps: log-log slopes on a table with known slopes, thread-count independence,
//! the emit → batch runs → collect round trip with a missing point, a duplicated
//! and a stale folder, and bad input (exit 2, nothing written).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use mfres::sweep::{self, Metrics, Outcome};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfres-sweep-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn mfres() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfres"))
}

#[test]
fn slopes_of_a_table_with_known_power_laws() {
    // gap = 3 β n^(−1/2), KL = 0.2 β² n^0.1.
    let mut table = Vec::new();
    for (i, beta) in [0.5f64, 1.0, 2.0, 4.0].iter().enumerate() {
        for (j, n) in [16.0f64, 32.0, 64.0, 128.0].iter().enumerate() {
            let gap = 3.0 * beta * n.powf(-0.5);
            let kl = 0.2 * beta * beta * n.powf(0.1);
            table.push(Outcome {
                id: format!("point_{:03}", 4 * i + j),
                overrides: vec![("model.beta".into(), beta.to_string()), ("data.n_train".into(), n.to_string())],
                status: "ok".into(),
                metrics: Some(Metrics { gap: Some(gap), kl_rho: 0.25 * kl, kl_nu: 0.75 * kl, ..Default::default() }),
                folder: None,
            });
        }
    }
    // One negative gap, one missing and one unstable point are left out, not fitted.
    table[1].metrics.as_mut().unwrap().gap = Some(-0.01);
    table[6].metrics = None;
    table[9].status = "unstable at t = 0.5: loss is not finite".into();
    let slopes = sweep::standard_slopes(&table);
    let gap: Vec<_> = slopes.iter().filter(|s| s.quantity == "gap").collect();
    let kl: Vec<_> = slopes.iter().filter(|s| s.quantity == "kl").collect();
    assert_eq!(gap.len(), 4);
    assert_eq!(slopes.iter().filter(|s| s.quantity == "rademacher_scale").count(), 4);
    assert_eq!(kl.len(), 4);
    for s in &gap {
        assert!((s.slope.unwrap() + 0.5).abs() < 1e-12, "{s:?}");
    }
    for s in &kl {
        assert!((s.slope.unwrap() - 2.0).abs() < 1e-12, "{s:?}");
    }
    assert_eq!(gap[0].group, "model.beta=0.5");
    assert_eq!((gap[0].points_used, gap[0].points_left_out), (3, 1));
    assert_eq!((gap[1].points_used, gap[1].points_left_out), (3, 1));
    assert_eq!(kl[2].group, "data.n_train=64");
    assert_eq!((kl[2].points_used, kl[2].points_left_out), (3, 1));
    // The unstable point (β = 2, n = 32) is out of both of its groups.
    assert_eq!((gap[2].points_used, gap[2].points_left_out), (3, 1));
    assert_eq!(kl[1].group, "data.n_train=32");
    assert_eq!((kl[1].points_used, kl[1].points_left_out), (3, 1));
    // A group with one usable point has no slope.
    let one = sweep::loglog_slopes(&table[..1], "data.n_train", "gap", |m| m.gap);
    assert_eq!(one[0].slope, None);
}

const SMALL: &[&str] = &["grid.cells=12", "grid.cells_nu=12", "grid.depth=2", "time.t_end=0.5", "time.output_every=0.25"];

#[test]
fn results_do_not_depend_on_how_many_points_run_at_once() {
    let sets: Vec<String> = SMALL.iter().map(|s| s.to_string()).collect();
    let ranges = vec![sweep::parse_range("model.beta=0.5,2").unwrap(), sweep::parse_range("data.n_train=6,8").unwrap()];
    let pts = sweep::points(None, &sets, &ranges).unwrap();
    assert_eq!(pts.len(), 4);
    assert_eq!(pts[1].overrides, vec![("model.beta".to_string(), "0.5".to_string()), ("data.n_train".to_string(), "8".to_string())]);
    let one = sweep::run_points(&pts, 1, false);
    let two = sweep::run_points(&pts, 2, false);
    for (a, b) in one.iter().zip(&two) {
        let (ma, mb) = (a.metrics.as_ref().unwrap(), b.metrics.as_ref().unwrap());
        assert_eq!(a.status, "ok");
        assert_eq!(ma.loss_final.to_bits(), mb.loss_final.to_bits());
        assert_eq!(ma.kl_nu.to_bits(), mb.kl_nu.to_bits());
        assert_eq!(ma.lambda_min_g2_0.to_bits(), mb.lambda_min_g2_0.to_bits());
        assert_eq!(ma.gap.unwrap().to_bits(), mb.gap.unwrap().to_bits());
    }
}

fn set_args() -> Vec<String> {
    SMALL.iter().flat_map(|s| ["--set".to_string(), s.to_string()]).collect()
}

fn csv_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    fs::read_to_string(path).unwrap().lines().map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn emit_then_collect_with_a_missing_point_a_duplicate_and_a_stale_folder() {
    let dir = tmp("emit");
    let st = mfres()
        .args(["sweep"])
        .args(set_args())
        .args(["--set-range", "model.beta=0.5,2", "--set-range", "data.n_train=6,8", "--emit"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let manifest: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let points = manifest["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert_eq!(points[2]["overrides"]["model.beta"], "2");
    assert_eq!(points[2]["config"], "point_002.toml");
    let commands = fs::read_to_string(dir.join("commands.txt")).unwrap();
    assert_eq!(commands.lines().count(), 4);
    // The batch runs points 0, 1 and 3 (point 2 is missing), as `mfres run` on each config.
    for id in ["point_000", "point_001", "point_003"] {
        let st = mfres().arg("run").arg(dir.join(format!("{id}.toml"))).arg("--out").arg(dir.join(id)).arg("--quiet").output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }
    // A re-run of point 1 in a second folder, and a stale folder from an older sweep
    // that is named like point 2 but holds another config.
    let copy = |from: &str, to: &str| {
        fs::create_dir_all(dir.join(to)).unwrap();
        for e in fs::read_dir(dir.join(from)).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), dir.join(to).join(e.file_name())).unwrap();
        }
    };
    copy("point_001", "point_001_rerun");
    copy("point_000", "point_002");
    let s = fs::read_to_string(dir.join("point_002/summary.json")).unwrap();
    fs::write(dir.join("point_002/summary.json"), s.replace("\"beta\": 0.5", "\"beta\": 0.75")).unwrap();

    let st = mfres().args(["sweep", "--collect"]).arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    // A missing point: every file written, then exit 3 naming it.
    assert_eq!(st.status.code(), Some(3), "{err}");
    assert!(err.contains("1 of 4 sweep points did not reach t_end: point_002 (missing)"), "{err}");
    assert!(err.contains("point_002") && err.contains("stale") && err.contains("duplicate of point_001"), "{err}");
    let rows = csv_rows(&dir.join("collected/sweep.csv"));
    assert_eq!(rows.len(), 5, "header + one row per point, no double counting");
    let h = &rows[0];
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["point_000", "point_001", "point_002", "point_003"]);
    assert_eq!(rows[3][col("status")], "missing");
    assert_eq!(rows[2][col("folder")], "point_001");
    assert_eq!(rows[1][col("model.beta")], "0.5");
    // The Rademacher scale β√((KL_ρ + KL_ν)/n) of every collected point.
    for k in [1, 2, 4] {
        let v = |c: &str| rows[k][col(c)].parse::<f64>().unwrap();
        let scale = v("model.beta") * ((v("kl_rho") + v("kl_nu")) / v("n")).sqrt();
        assert!((v("rademacher_scale") - scale).abs() <= 1e-12 * scale, "{} {scale}", rows[k][0]);
        assert_eq!(rows[k][col("n")], rows[k][col("data.n_train")]);
    }
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("collected/sweep.json")).unwrap()).unwrap();
    assert_eq!(json["extra"]["missing"], serde_json::json!(["point_002"]));

    // The collected numbers are those of the same points run by `mfres sweep` here.
    let here = tmp("here");
    let st = mfres()
        .args(["sweep", "--quiet"])
        .args(set_args())
        .args(["--set-range", "model.beta=0.5,2", "--set-range", "data.n_train=6,8", "--jobs", "2", "--out"])
        .arg(&here)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let direct = csv_rows(&here.join("sweep.csv"));
    for k in [1, 2, 4] {
        for c in ["loss_final", "test_loss_final", "gap", "kl_rho", "kl_nu", "lambda_min_g2_0", "t_half", "n", "rademacher_scale"] {
            assert_eq!(rows[k][col(c)], direct[k][col(c)], "{} {c}", rows[k][0]);
        }
    }
    let gap_plot = fs::read_to_string(here.join("sweep_gap.svg")).unwrap();
    assert!(gap_plot.starts_with("<svg") && gap_plot.contains("model.beta=0.5: slope") && gap_plot.contains("model.beta=2: slope"));
    assert!(fs::read_to_string(here.join("sweep_kl.svg")).unwrap().contains("data.n_train=8: slope"));
    // Emitting again into the folder needs --force and keeps the batch's output folders.
    let emit_again = |force: bool| {
        let mut c = mfres();
        c.arg("sweep").args(set_args()).args(["--set-range", "model.beta=0.5,2", "--set-range", "data.n_train=6,8", "--emit"]).arg(&dir);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    assert_eq!(emit_again(false).status.code(), Some(2));
    assert!(emit_again(true).status.success());
    assert!(dir.join("point_000/summary.json").exists() && dir.join("point_001_rerun/summary.json").exists());
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&here).unwrap();
}

#[test]
fn bad_sweep_input_is_a_one_line_error_with_exit_2_and_nothing_written() {
    let out = tmp("bad");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("sweep.csv"), "keep me").unwrap();
    let nothing = tmp("nothing");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--set-range", "model.beta"], "--set-range model.beta"),
        (vec!["--set-range", "model.beta="], "empty value"),
        (vec!["--set-range", "beta=1,2"], "section.key"),
        (vec!["--set-range", "model.betta=1,2"], "model.betta"),
        (vec!["--set-range", "model.beta=1,x"], "model.beta"),
        (vec!["--set-range", "data.n_train=6,1000"], "data.n_train"),
        (vec!["--set-range", "model.beta=1,2", "--set-range", "model.beta=3"], "ranged twice"),
        (vec![], "--set-range"),
    ];
    for (args, needle) in cases {
        for target in [&out, &nothing] {
            let st = mfres().arg("sweep").args(&args).arg("--out").arg(target).output().unwrap();
            let err = String::from_utf8_lossy(&st.stderr);
            assert_eq!(st.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(needle), "{args:?}: '{err}' does not name '{needle}'");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
        assert_eq!(fs::read_to_string(out.join("sweep.csv")).unwrap(), "keep me");
        assert!(!nothing.exists());
    }
    // An existing output folder is refused (exit 2), a --collect folder without a manifest too.
    let st = mfres().args(["sweep", "--set-range", "model.beta=1"]).args(set_args()).arg("--out").arg(&out).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert_eq!(fs::read_to_string(out.join("sweep.csv")).unwrap(), "keep me");
    let st = mfres().args(["sweep", "--collect"]).arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(2), "{err}");
    assert!(err.contains("manifest.json") && err.trim().lines().count() == 1, "{err}");
    assert!(!out.join("collected").exists());
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_sweep_with_an_unstable_point_writes_everything_and_exits_3() {
    let out = tmp("unstable");
    let st = mfres()
        .args(["sweep", "--quiet"])
        .args(set_args())
        .args(["--set", "time.dt=0.01", "--set", "time.output_every=0.005", "--set-range", "model.beta=0.5,40", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(3), "{err}");
    assert!(err.contains("1 of 2 sweep points did not reach t_end: point_001 (unstable at t = "), "{err}");
    let rows = csv_rows(&out.join("sweep.csv"));
    let status = rows[0].iter().position(|c| c == "status").unwrap();
    assert_eq!(rows[1][status], "ok");
    assert!(rows[2][status].starts_with("unstable at t = "), "{:?}", rows[2]);
    assert!(out.join("sweep.json").exists() && out.join("sweep_kl.svg").exists());
    fs::remove_dir_all(&out).unwrap();
}
