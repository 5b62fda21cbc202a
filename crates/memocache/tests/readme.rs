//! Every ```rust snippet of the README compiles: the first block is the application's
//! `User`, `DbError` and `db_fetch_user`, which every other snippet uses; each other one is put
//! in an `async fn` after that block, and built by trybuild (not run: some need a Redis or a
//! writable path).

#![cfg(all(
    feature = "macros",
    feature = "node",
    feature = "redis",
    feature = "sqlite"
))]

#[test]
fn readme_snippets_compile() {
    let readme = include_str!("../../../README.md");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme");
    std::fs::create_dir_all(&dir).unwrap();
    let cases = trybuild::TestCases::new();
    let mut blocks = readme
        .split("```rust\n")
        .skip(1)
        .map(|block| block.split("\n```").next().unwrap());
    let prelude = blocks.next().expect("the README's application block");
    assert!(prelude.contains("pub struct User") && prelude.contains("fn db_fetch_user"));
    let mut n = 0;
    for (i, code) in blocks.enumerate() {
        // Items (functions, types, impls) at the top level; statements in the body.
        let (mut items, mut body) = (String::new(), String::new());
        let mut depth = 0i32;
        let mut in_item = false;
        for line in code.lines() {
            let starts_item = depth == 0
                && (line.starts_with("use ")
                    || line.starts_with("#[")
                    || line.starts_with("async fn")
                    || line.starts_with("fn ")
                    || line.starts_with("struct ")
                    || line.starts_with("impl "));
            if starts_item {
                in_item = true;
            }
            if in_item {
                items.push_str(line);
                items.push('\n');
            } else {
                body.push_str(line);
                body.push('\n');
            }
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if in_item && depth == 0 && (line.ends_with('}') || line.ends_with(';')) {
                in_item = false;
            }
        }
        let file = dir.join(format!("snippet_{i}.rs"));
        let source = format!(
            "#![allow(unused)]\n{prelude}\n{items}\n#[allow(unused_variables)]\nasync fn snippet() -> Result<(), Box<dyn std::error::Error>> {{\n{body}\nOk(())\n}}\n\nfn main() {{ let _ = snippet; }}\n"
        );
        std::fs::write(&file, source).unwrap();
        cases.pass(&file);
        n += 1;
    }
    assert!(n >= 5, "the README's snippets: {n}");
}
