//! The same configuration gives bitwise the same numbers on 1 and 2 threads.

mod common;

fn rows_with_threads(threads: usize) -> Vec<String> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut cfg = common::small_config("tanh", 20);
        cfg.data.n_train = 9;
        let (_, rows) = common::run(cfg);
        rows.iter().map(|r| format!("{r:?}")).collect()
    })
}

#[test]
fn one_and_two_threads_agree_bitwise() {
    assert_eq!(rows_with_threads(1), rows_with_threads(2));
}
