//! The SVG plots are well-formed and contain what was drawn: one polyline per
//! series, every label, the heat map's cells and contour circles.

use std::path::PathBuf;

use mfres::plot::{self, HeatMap, LineChart, Ring, Series};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfres-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Start tag, matching end tag, balanced angle brackets, no NaN in coordinates.
fn assert_svg(text: &str) {
    assert!(text.trim_start().starts_with("<svg"), "does not start with <svg: {}", &text[..80.min(text.len())]);
    assert!(text.trim_end().ends_with("</svg>"), "does not end with </svg>");
    assert_eq!(text.matches('<').count(), text.matches('>').count(), "unbalanced tags");
    assert!(!text.contains("NaN") && !text.contains("inf"), "non-finite coordinate in the SVG");
}

#[test]
fn line_chart_has_one_polyline_per_series_and_every_label() {
    let path = tmp("lines.svg");
    // Three schemes on a log-log error plot; one has a zero and a NaN that must be skipped.
    let hs = [0.4, 0.2, 0.1, 0.05];
    let chart = LineChart::new("error against h", "h", "error")
        .log_x(true)
        .log_y(true)
        .series(Series::new("scheme fv1", hs.iter().map(|&h| (h, 0.3 * h)).collect()).with_markers())
        .series(Series::new("scheme fv2", hs.iter().map(|&h| (h, 0.5 * h * h)).collect()))
        .series(Series::new("scheme broken", vec![(0.4, 1e-2), (0.2, 0.0), (0.1, f64::NAN), (0.05, 1e-5)]));
    plot::line_chart(&path, &chart).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_svg(&text);
    for label in ["scheme fv1", "scheme fv2", "scheme broken", "error against h", "(log scale)"] {
        assert!(text.contains(label), "missing '{label}'");
    }
    // One polyline per series plus the legend samples; the broken series is two pieces
    // of one point each (a one-point piece is still a polyline element).
    let polylines = text.matches("<polyline").count();
    assert!(polylines >= 3 + 3, "{polylines} polylines");
    // Markers of the first series: 4 circles.
    assert!(text.matches("<circle").count() >= 4);
    assert!(!path.with_extension("svg.tmp").exists());
}

#[test]
fn chart_with_nothing_drawable_still_writes_a_valid_file() {
    let path = tmp("empty.svg");
    let chart = LineChart::new("nothing", "t", "loss")
        .log_y(true)
        .series(Series::new("all zero", vec![(0.0, 0.0), (1.0, -1.0)]));
    plot::line_chart(&path, &chart).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_svg(&text);
    assert!(text.contains("all zero"));
}

#[test]
fn heat_map_draws_every_cell_and_the_contours() {
    let path = tmp("heat.svg");
    let n = 20;
    let r = 5.0;
    let h = 2.0 * r / n as f64;
    let c = |i: usize| -r + (i as f64 + 0.5) * h;
    let values: Vec<f64> = (0..n * n)
        .map(|k| {
            let (x, y) = (c(k / n), c(k % n));
            (-(x * x + y * y) / 2.0).exp() / std::f64::consts::TAU
        })
        .collect();
    let map = HeatMap {
        title: "density of slice 0".into(),
        x_label: "u".into(),
        y_label: "w".into(),
        n,
        half_width: r,
        values: &values,
        circles: vec![Ring { radius: 1.0, label: "1σ of ρ₀".into() }, Ring { radius: 2.0, label: "2σ of ρ₀".into() }],
    };
    plot::heat_map(&path, &map).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_svg(&text);
    for label in ["density of slice 0", "1σ of ρ₀", "2σ of ρ₀"] {
        assert!(text.contains(label), "missing '{label}'");
    }
    // n² cells plus 64 colour-bar bands plus the background rectangles.
    assert!(text.matches("<rect").count() >= n * n + 64);
    // Two circles plus their legend samples.
    assert!(text.matches("<polyline").count() >= 4);
    // A wrongly sized array is an output error naming the file, not a panic.
    let bad = HeatMap { values: &values[..10], ..map };
    let e = plot::heat_map(&tmp("bad.svg"), &bad).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("bad.svg"), "{e}");
}

#[test]
fn unwritable_path_is_an_output_error() {
    let path = std::path::Path::new("/nonexistent-folder-mfres/x.svg");
    let chart = LineChart::new("t", "x", "y").series(Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)]));
    let e = plot::line_chart(path, &chart).unwrap_err();
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn run_writes_its_figures_with_the_expected_series() {
    let out = std::env::temp_dir().join(format!("mfres-plot-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_mfres"))
        .args(["run", "--quiet"])
        .args(["--set", "grid.cells=12", "--set", "grid.cells_nu=12", "--set", "grid.depth=2"])
        .args(["--set", "time.t_end=0.5", "--set", "data.n_train=6"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let read = |f: &str| {
        let t = std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_svg(&t);
        t
    };
    let loss = read("loss.svg");
    assert!(loss.contains("training loss") && loss.contains("test loss") && loss.contains("(log scale)"));
    let kl = read("kl_w2.svg");
    for s in ["KL_ρ (mean over slices)", "KL_ν", "W2 path bound A_ρ", "W2 path bound A_ν"] {
        assert!(kl.contains(s), "{s}");
    }
    assert!(read("lambda_min.svg").contains("λ_min(G2)"));
    for l in 0..2 {
        for tag in ["first", "last"] {
            let m = read(&format!("rho_slice{l}_{tag}.svg"));
            assert!(m.contains(&format!("ρ slice {l}")) && m.contains("2σ circle of ρ₀"));
            // k_ρ = 2 (u, w): no marginal.
            assert!(!m.contains("marginal"));
        }
    }
    assert!(read("nu_first.svg").contains("at t = 0"));
    assert!(read("nu_last.svg").contains("at t = 0.5, marginal over (e) onto (a, c)"));
    // --force replaces the figures too.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_mfres"))
        .args(["run", "--quiet", "--force", "--set", "grid.cells=12", "--set", "grid.cells_nu=12", "--set", "grid.depth=2"])
        .args(["--set", "time.t_end=0.5", "--set", "data.n_train=6", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(again.status.success());
    std::fs::remove_dir_all(&out).unwrap();
}
