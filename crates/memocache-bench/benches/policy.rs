//! Criterion benchmarks of the in-memory hit path (table 1 of `memocache-bench policy`, measured
//! by criterion): one thread, 100k resident keys, `get` and the get-or-load path of memocache's
//! policies, moka (`future::Cache`), quick_cache (`sync::Cache`, async guard API), cached
//! (`SizedCache` in a `Mutex`), `lru` and a `Mutex<HashMap>`; plus an insert-on-miss loop on
//! TinyUFO's Zipf(1.0) stream.
//!
//! Run: `cargo bench -p memocache-bench`. Note: `cargo bench` builds the crate's
//! dev-dependencies, which enable Tokio's `test-util`; no runtime is entered here, so Tokio's
//! clock still reads the system clock directly.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memocache_bench::policy::{all_subjects, Variant};

const RESIDENT: u64 = 100_000;

fn keys() -> Vec<u64> {
    // A fixed odd multiplier permutes 0..RESIDENT without a generator.
    (0..RESIDENT).map(|i| (i * 7_919) % RESIDENT).collect()
}

fn hits(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("hit");
    group.throughput(Throughput::Elements(1));
    for (name, s) in all_subjects(2 * RESIDENT as usize) {
        for &k in &keys {
            s.insert(k, k);
        }
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("get", &name), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(s.get(black_box(keys[i])))
            })
        });
        group.bench_function(BenchmarkId::new("get_or_load", &name), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(s.get_or_load(black_box(keys[i])))
            })
        });
    }
    group.finish();
}

fn zipf_insert_on_miss(c: &mut Criterion) {
    let stream: Vec<u64> = Variant::Zipf(1.0).keys(100, 100_000).collect();
    let mut group = c.benchmark_group("zipf1.0_cap1%");
    group.throughput(Throughput::Elements(stream.len() as u64));
    group.sample_size(10);
    for (name, s) in all_subjects(100) {
        group.bench_function(&name, |b| {
            b.iter(|| {
                let mut hits = 0u32;
                for &k in &stream {
                    if s.get(k).is_some() {
                        hits += 1;
                    } else {
                        s.insert(k, k);
                    }
                }
                black_box(hits)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hits, zipf_insert_on_miss);
criterion_main!(benches);
