//! Runs the `memocache-bench` binary as a user would and reads its `--json` rows.

use std::process::Command;

use serde_json::Value;

/// Runs the runner with `args`; asserts it succeeded; returns its JSON rows (stdout, one per
/// line) and its stderr (where the tables go).
pub fn run_runner(args: &[&str]) -> (Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memocache-bench"))
        .args(args)
        .output()
        .expect("the runner starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "runner failed: {stderr}");
    let rows = String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (rows, stderr)
}
