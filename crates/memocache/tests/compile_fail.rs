//! The compile errors `#[memoize]` and `#[node]` promise, with their messages (`tests/ui/*.stderr`).
//! Regenerate after a deliberate change with `TRYBUILD=overwrite cargo test -p memocache
//! --test compile_fail`, then review the diff.

#![cfg(feature = "macros")]

#[test]
fn memoize_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
