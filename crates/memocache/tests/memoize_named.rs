//! `#[memoize]` over a storage registered by name (cacheme's `register_storage`): the function's
//! cache takes its tier from the process-wide registry, here a SQLite file, so its values
//! survive the cache (a second cache over the same name reads them without a load).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memocache::codec::Codec;
use memocache::key::Namespace;
use memocache::registry::{named_tier, register_storage};
use memocache::{memoize, Cache};

static LOADS: AtomicUsize = AtomicUsize::new(0);

#[memoize(config = Cache::builder()
    .tier(named_tier("memoize-named-test", Namespace::new("squares"), Codec::json()).unwrap()))]
async fn square(n: u64) -> Result<u64, std::io::Error> {
    LOADS.fetch_add(1, SeqCst);
    Ok(n * n)
}

#[tokio::test]
async fn a_memoized_function_uses_a_storage_registered_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?table=squares",
        dir.path().join("cache.db").display()
    );
    register_storage("memoize-named-test", &url).await.unwrap();
    assert_eq!(square(7).await.unwrap(), 49);
    assert_eq!(square(7).await.unwrap(), 49);
    assert_eq!(LOADS.load(SeqCst), 1);
    // The entry is in the registered storage: a fresh cache over the same name (and the
    // function's key space, its path) reads it back.
    let other: Cache<u64, u64> = Cache::builder()
        .name(concat!(module_path!(), "::square"))
        .tier(
            named_tier(
                "memoize-named-test",
                Namespace::new("squares"),
                Codec::json(),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(other.get(&7).await, Some(49));
}
