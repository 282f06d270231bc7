//! `mfres order` on the command line: a small study writes its table, CSV and plots;
//! bad flags fail with one line naming the flag and exit code 2, touching nothing.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn mfres() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfres"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfres-order-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

const SMALL: &[&str] = &[
    "--set", "grid.cells=8", "--set", "grid.cells_nu=8", "--set", "grid.depth=2", "--set", "time.t_end=0.2",
    "--set", "data.n_train=6", "--set", "model.output_bias=false", "--set", "grid.half_width=6",
];

#[test]
fn a_small_study_writes_table_csv_and_plots_and_keeps_existing_results() {
    let out = tmp("ok");
    let st = mfres()
        .args(["order", "--vary", "cells", "--levels", "2", "--schemes", "fv1,spectral/rk4", "--set", "time.cfl=0.5"])
        .args(SMALL)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(stdout.contains("fv1 — vary cells") && stdout.contains("spectral/rk4 — vary cells"), "{stdout}");
    let csv = fs::read_to_string(out.join("order.csv")).unwrap();
    // 2 variants × 2 levels × 8 quantities, plus the header.
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 8);
    assert!(csv.lines().next().unwrap().starts_with("scheme,vary,level,resolution,spacing,quantity,value"));
    assert!(out.join("order_loss.svg").exists() && out.join("order_config.json").exists());
    // The same folder again without --force: refused, exit 2, nothing changed.
    let st = mfres().args(["order", "--vary", "cells", "--levels", "2"]).args(SMALL).arg("--out").arg(&out).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert_eq!(fs::read_to_string(out.join("order.csv")).unwrap(), csv);
}

#[test]
fn bad_flags_name_the_flag_and_exit_with_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--vary", "cells", "--levels", "1"], "--levels"),
        (&["--vary", "space", "--levels", "3"], "--vary"),
        (&["--vary", "cells", "--levels", "3", "--schemes", "fv3"], "--schemes"),
        (&["--vary", "cells", "--levels", "3", "--schemes", "fv2/rk5"], "--schemes"),
        (&["--vary", "cells", "--levels", "3", "--schemes", "fv1,fv2,fv1"], "--schemes"),
        (&["--vary", "cells", "--levels", "3", "--reference", "best"], "--reference"),
        // The exact Gaussian closure needs the linear activation without biases.
        (&["--vary", "cells", "--levels", "3", "--reference", "exact"], "--reference"),
        (&["--vary", "dt", "--levels", "3"], "--vary"),
        (&["--vary", "depth", "--levels", "3", "--ratio", "1.5"], "--ratio"),
        (&["--vary", "cells", "--levels", "3", "--ratio", "1"], "--ratio"),
        // Forward Euler is unstable with the spectral scheme.
        (&["--vary", "cells", "--levels", "3", "--schemes", "spectral/euler"], "time.integrator"),
    ];
    for (args, flag) in cases {
        let out = tmp("bad");
        let st = mfres().arg("order").args(*args).args(SMALL).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&st.stderr);
        assert_eq!(st.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.contains(flag), "{args:?}: '{err}' does not name {flag}");
        assert!(!out.exists(), "{args:?}: output folder created");
    }
}
