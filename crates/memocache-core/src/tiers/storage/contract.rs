//! The storage contract as a reusable check, for the test suites of storage
//! implementations (enabled by the `contract` feature).

use std::time::{Duration, SystemTime};

use super::{Storage, StoredEntry};

/// Checks the [`Storage`] contract on `store`, using `other` — a storage of another
/// namespace on the same backend — to check that `clear` stays in its namespace. Both
/// should start empty. Uses keys `k0`…`k4` and `unknown`.
///
/// # Panics
/// On the first broken rule, with a message saying which.
///
/// # Cancel safety
/// Not cancel safe: dropped part-way, it leaves the keys it wrote in both storages (clear
/// them before checking again).
pub async fn check_storage<S>(store: &S, other: &S)
where
    S: Storage<String, String> + ?Sized,
{
    let k = |i: u32| format!("k{i}");
    let entry = |v: &str| {
        StoredEntry::new(
            v.to_owned(),
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    };

    // set then get
    let e = entry("v0");
    store.set(&k(0), e.clone()).await.expect("set");
    let got = store
        .get(&k(0))
        .await
        .expect("get")
        .expect("set then get: a hit");
    assert_eq!(got.value, "v0", "set then get: the value");
    let ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    assert_eq!(ms(got.expire_at), ms(e.expire_at), "expire_at kept (ms)");
    assert_eq!(ms(got.update_at), ms(e.update_at), "update_at kept (ms)");
    assert_eq!(ms(got.created), ms(e.created), "created kept (ms)");

    // a lifespan that has passed is a miss
    let past = SystemTime::now() - Duration::from_secs(10);
    let expired = StoredEntry::created_at(
        past,
        "old".to_owned(),
        Duration::from_secs(1),
        Duration::from_secs(2),
    );
    store.set(&k(1), expired).await.expect("set expired");
    assert!(
        store.get(&k(1)).await.expect("get").is_none(),
        "an entry whose lifespan has passed is a miss"
    );
    store
        .set(
            &k(0),
            StoredEntry::created_at(
                past,
                "old".to_owned(),
                Duration::from_secs(1),
                Duration::from_secs(2),
            ),
        )
        .await
        .expect("set expired over live");
    assert!(
        store.get(&k(0)).await.expect("get").is_none(),
        "setting an expired entry removes the live one"
    );

    // get_many of [] is []
    assert!(
        store.get_many(&[]).await.expect("get_many []").is_empty(),
        "get_many of [] is []"
    );

    // set_many of 3, get_many of those 3 plus one unknown: exactly 3, in order
    store
        .set_many((2..5).map(|i| (k(i), entry(&format!("v{i}")))).collect())
        .await
        .expect("set_many");
    let keys = vec![k(2), "unknown".to_owned(), k(3), k(4)];
    let got = store.get_many(&keys).await.expect("get_many");
    assert_eq!(got.len(), 4, "one item per key");
    let values: Vec<Option<String>> = got
        .into_iter()
        .map(|r| r.expect("decodes").map(|e| e.value))
        .collect();
    assert_eq!(
        values,
        vec![
            Some("v2".to_owned()),
            None,
            Some("v3".to_owned()),
            Some("v4".to_owned())
        ],
        "get_many returns exactly the 3 set, in order"
    );

    // remove then miss
    store.remove(&k(2)).await.expect("remove");
    assert!(
        store.get(&k(2)).await.expect("get").is_none(),
        "remove then miss"
    );
    store
        .remove(&k(2))
        .await
        .expect("removing a missing key is fine");

    // clear removes only this namespace
    other.set(&k(3), entry("theirs")).await.expect("other set");
    store.clear().await.expect("clear");
    assert!(
        store.get(&k(3)).await.expect("get").is_none(),
        "clear removes ours"
    );
    assert!(
        store.get(&k(4)).await.expect("get").is_none(),
        "clear removes ours"
    );
    let theirs = other.get(&k(3)).await.expect("other get");
    assert_eq!(
        theirs.map(|e| e.value).as_deref(),
        Some("theirs"),
        "clear leaves other namespaces alone"
    );
    other.clear().await.expect("other clear");
}
