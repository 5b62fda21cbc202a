//! The crate front page's table of cargo features and `Cargo.toml`'s `[features]` name the
//! same features: none is missing from the docs, none documented that does not exist.

use std::collections::BTreeSet;

/// The features `Cargo.toml` declares (but `default`).
fn declared() -> BTreeSet<String> {
    let manifest = include_str!("../Cargo.toml");
    let section = manifest
        .split("\n[features]\n")
        .nth(1)
        .expect("a [features] section");
    let section = section.split("\n[").next().unwrap_or(section);
    section
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = ["))
        .map(|l| l.split(" = ").next().unwrap().trim().to_string())
        .filter(|f| f != "default")
        .collect()
}

/// The features the front page's table names (the backticked words of its first column).
fn documented() -> BTreeSet<String> {
    let lib = include_str!("../src/lib.rs");
    let table = lib
        .split("//! # Cargo features")
        .nth(1)
        .expect("a Cargo features section");
    table
        .lines()
        .skip(1) // the rest of the heading line
        .take_while(|l| l.starts_with("//!"))
        .filter(|l| l.starts_with("//! | `"))
        .flat_map(|l| {
            let first = l
                .trim_start_matches("//! |")
                .split('|')
                .next()
                .unwrap_or("");
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_features_table_matches_cargo_toml() {
    let (declared, documented) = (declared(), documented());
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&declared).collect();
    assert!(
        undocumented.is_empty(),
        "features missing from the table: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented features that do not exist: {unknown:?}"
    );
}
