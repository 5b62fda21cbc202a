//! The `policy` scenario's pieces on small inputs: row shapes, the JSON format the issue fixes,
//! the key streams, and that every cache is driven (hit ratios plausible).

use memocache_bench::floor::lru_update_misses;
use memocache_bench::policy::{hit_ratio_cell, ready, LruUpdateExact, Subject, Variant};

#[test]
fn hit_ratio_rows_have_the_documented_shape() {
    let rows = hit_ratio_cell(Variant::Zipf(1.0), 0.01, 200_000);
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.get("impl").and_then(|v| v.as_str()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "memocache-lru-update",
            "lru-update-exact",
            "memocache-lru",
            "memocache-wtinylfu",
            "memocache-wtinylfu-doorkeeper",
            "moka",
            "quick_cache",
            "lru"
        ]
    );
    let json = rows[3].to_json();
    assert!(
        json.starts_with(r#"{"scenario":"hit_ratio","impl":"memocache-wtinylfu","s":1.0,"size":0.01,"hit_ratio":0."#),
        "{json}"
    );
    let ratio = |i: usize| rows[i].get("hit_ratio").and_then(|v| v.as_f64()).unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert!((0.2..0.8).contains(&ratio(i)), "{}", row.to_json());
    }
    // Frequency beats recency on a Zipf stream, even on a short run.
    assert!(
        ratio(3) > ratio(7),
        "w-tinylfu {} vs lru {}",
        ratio(3),
        ratio(7)
    );
}

#[test]
fn streams_are_what_the_docs_say() {
    let scan: Vec<u64> = Variant::Scan.keys(100, 100_000).collect();
    assert!(scan[45_000..50_000].windows(2).all(|w| w[1] == w[0] + 1));
    assert!(scan[..45_000].iter().all(|&k| (1..=10_000).contains(&k)));
    let lp: Vec<u64> = Variant::Loop.keys(100, 300).collect();
    assert_eq!(lp[120], 0);
    assert_eq!(*lp.iter().max().unwrap(), 119);
    let reuse: Vec<u64> = Variant::ShortReuse.keys(100, 4_000).collect();
    for (i, &k) in reuse.iter().enumerate() {
        let newest = i as u64 / 4;
        assert!(k <= newest && newest - k < 50, "{i}: {k}");
    }
}

#[test]
fn the_busy_executor_drives_every_api() {
    let c = memocache_bench::policy::memocache(10, memocache::EvictionPolicy::W_TINY_LFU);
    Subject::insert(&c, 1, 1);
    assert_eq!(Subject::get(&c, 1), Some(1));
    assert_eq!(Subject::get_or_load(&c, 1), 1);
    assert_eq!(ready(async { 5 }), 5);
    let q = quick_cache::sync::Cache::<u64, u64>::new(10);
    assert_eq!(Subject::get_or_load(&q, 3), 3);
    assert_eq!(Subject::get(&q, 3), Some(3));
    let m = moka::future::Cache::<u64, u64>::new(10);
    assert_eq!(Subject::get_or_load(&m, 4), 4);
    assert_eq!(Subject::get(&m, 4), Some(4));
}

#[test]
fn the_exact_least_recently_updated_subject_matches_its_floor() {
    let keys: Vec<u64> = Variant::Zipf(1.0).keys(100, 100_000).collect();
    let exact = LruUpdateExact::new(100);
    let mut misses = 0;
    for &k in &keys {
        if exact.get(k).is_none() {
            misses += 1;
            exact.insert(k, k);
        }
    }
    assert_eq!(misses, lru_update_misses(&keys, 100));
    // A read does not reorder: 1 is still the oldest write when 3 arrives.
    let c = LruUpdateExact::new(2);
    c.insert(1, 1);
    c.insert(2, 2);
    assert_eq!(c.get(1), Some(1));
    c.insert(3, 3);
    assert_eq!((c.get(1), c.get(2)), (None, Some(2)));
    assert_eq!(c.get_or_load(4), 4);
    assert_eq!(c.get(2), None);
}
