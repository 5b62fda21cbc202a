//! Writes the seed inputs of every target to `corpus/<target>/seed-<name>` (run from `fuzz/`:
//! `cargo +nightly run --example seeds`); with `--show`, also prints the keys each key seed
//! draws and the URL each storage URL seed stands for.

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

fn main() -> std::io::Result<()> {
    let show = std::env::args().any(|a| a == "--show");
    memocache_fuzz::keys::SHOW.store(show, Relaxed);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let seeds = memocache_fuzz::seeds::all();
    for (target, name, input) in &seeds {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{name}")), input)?;
        if show && *target == "remote_key" {
            println!("{name}:");
            memocache_fuzz::keys::run(input);
        }
        if show && *target == "storage_url" {
            println!("{name}: {:?}", memocache_fuzz::urls::text_of(input));
        }
    }
    println!("{} seeds written under {}", seeds.len(), root.display());
    Ok(())
}
