//! Group invalidation: zones, zone keys, tags and scopes, in memory and in tiers (through
//! generations), with loads and tier reads in flight.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock};

use common::{until, Held};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{MemoryStorage, Storage, StorageError, StoredEntry};
use memocache_core::{BuildError, Cache, Scope, Scoped, Tier, Zone};
use tokio::sync::Notify;

type Io = std::io::Error;

fn value(v: &str) -> impl FnOnce() -> std::future::Ready<Result<String, Io>> {
    let v = v.to_string();
    move || std::future::ready(Ok(v))
}

#[tokio::test]
async fn a_zone_clears_by_dependency_across_key_types_and_all_at_once() {
    let authors = Zone::new("authors").key(|author: &u64| *author);
    let ratings: Cache<u64, String> = Cache::builder().zone(&authors).build().unwrap();
    // Its own zone key: a book depends on its author.
    let books: Cache<(u64, u32), String> = Cache::builder()
        .zone(&authors)
        .zone_key(|&(author, _): &(u64, u32)| author)
        .build()
        .unwrap();
    // Another key type, no zone key of its own: in the zone, depending on nothing.
    let misc: Cache<String, String> = Cache::builder().zone(&authors).build().unwrap();
    assert_eq!(authors.members(), 3);

    ratings.get_or_load(7, value("r7")).await.unwrap();
    ratings.get_or_load(8, value("r8")).await.unwrap();
    books.get_or_load((7, 1), value("b71")).await.unwrap();
    books.get_or_load((8, 2), value("b82")).await.unwrap();
    misc.get_or_load("x".into(), value("x")).await.unwrap();

    authors.invalidate(7).await.unwrap();
    assert_eq!(ratings.get(&7).await, None);
    assert_eq!(books.get(&(7, 1)).await, None);
    assert_eq!(ratings.get(&8).await.as_deref(), Some("r8"));
    assert_eq!(books.get(&(8, 2)).await.as_deref(), Some("b82"));
    assert_eq!(misc.len(), 1);

    authors.invalidate_all().await.unwrap();
    assert!(ratings.is_empty() && books.is_empty() && misc.is_empty());

    // A dropped member leaves the zone.
    drop(misc);
    assert_eq!(authors.members(), 2);
}

#[tokio::test]
async fn explicit_tags_without_a_zone() {
    let posts: Cache<(u32, u32), String> = Cache::builder()
        .tags(|&(user, post): &(u32, u32)| [format!("user:{user}"), format!("post:{post}")])
        .build()
        .unwrap();
    for (u, p) in [(1, 10), (1, 11), (2, 20)] {
        posts.insert((u, p), format!("{u}/{p}")).await;
    }
    posts.invalidate_tags(["post:11"]).await.unwrap();
    assert_eq!(posts.len(), 2);
    posts.invalidate_tags(["user:1", "nothing"]).await.unwrap();
    assert_eq!(posts.get(&(2, 20)).await.as_deref(), Some("2/20"));
    assert_eq!(posts.len(), 1);
}

static SHARED_SCOPES: LazyLock<Scope<u32>> = LazyLock::new(|| Scope::new("tests::names"));
static OTHER_SCOPE: LazyLock<Scope<u32>> = LazyLock::new(|| Scope::new("tests::emails"));

#[tokio::test]
async fn scopes_never_share_entries_and_are_invalidated_alone_in_memory_and_tiers() {
    let tier = Held::<Scoped<u32>, String>::new();
    let build = || {
        let cache: Cache<Scoped<u32>, String> = Cache::builder()
            .tier(Tier::new(Arc::clone(&tier)))
            .build()
            .unwrap();
        cache.join_scope(&SHARED_SCOPES);
        cache.join_scope(&OTHER_SCOPE);
        cache
    };
    let (a, b) = (build(), build());
    let names = |k| Scoped::new(&SHARED_SCOPES, k);
    let emails = |k| Scoped::new(&OTHER_SCOPE, k);
    assert_eq!(a.get_or_load(names(1), value("Ann")).await.unwrap(), "Ann");
    assert_eq!(
        a.get_or_load(emails(1), value("ann@x")).await.unwrap(),
        "ann@x"
    );
    assert_eq!(a.get(&names(1)).await.as_deref(), Some("Ann"));

    // From another instance over the same tier: both read back, apart.
    assert_eq!(b.get(&emails(1)).await.as_deref(), Some("ann@x"));
    a.invalidate_scope(&SHARED_SCOPES).await.unwrap();
    assert_eq!(a.get(&names(1)).await, None, "gone from memory and tier");
    assert_eq!(a.get(&emails(1)).await.as_deref(), Some("ann@x"));
    let c = build();
    assert_eq!(
        c.get(&names(1)).await,
        None,
        "the tier's entry is of an old generation"
    );
    assert_eq!(c.get(&emails(1)).await.as_deref(), Some("ann@x"));
    // A new load of the invalidated scope is stored and read back again.
    a.get_or_load(names(1), value("Ann 2")).await.unwrap();
    assert_eq!(build().get(&names(1)).await.as_deref(), Some("Ann 2"));
}

#[tokio::test]
async fn a_load_in_flight_when_its_tag_is_invalidated_is_served_to_its_waiters_but_never_stored() {
    let tier = Held::<u32, String>::new();
    let cache: Cache<u32, String> = Cache::builder()
        .tags(|k: &u32| [k % 2])
        .tier(Tier::new(Arc::clone(&tier)))
        .build()
        .unwrap();
    let gate = Arc::new(Notify::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = |v: &'static str| {
        let (gate, calls) = (Arc::clone(&gate), Arc::clone(&calls));
        move || async move {
            calls.fetch_add(1, SeqCst);
            gate.notified().await;
            Ok::<_, Io>(v.to_string())
        }
    };
    let first = tokio::spawn({
        let (cache, loader) = (cache.clone(), loader("old"));
        async move { cache.get_or_load(1, loader).await }
    });
    until(|| calls.load(SeqCst) == 1).await;
    cache.invalidate_tags([1]).await.unwrap();
    gate.notify_waiters();
    assert_eq!(
        first.await.unwrap().unwrap(),
        "old",
        "its waiter still gets it"
    );
    cache.idle().await;
    assert_eq!(tier.value(1).await, None, "written nowhere");
    let second = tokio::spawn({
        let (cache, loader) = (cache.clone(), loader("new"));
        async move { cache.get_or_load(1, loader).await }
    });
    until(|| calls.load(SeqCst) == 2).await;
    gate.notify_waiters();
    assert_eq!(second.await.unwrap().unwrap(), "new");
}

#[tokio::test]
async fn a_tier_read_in_flight_does_not_bring_an_invalidated_entry_back() {
    let tier = Held::<u32, String>::new();
    let build = || -> Cache<u32, String> {
        Cache::builder()
            .tags(|_: &u32| ["all"])
            .tier(Tier::new(Arc::clone(&tier)))
            .build()
            .unwrap()
    };
    let (writer, reader) = (build(), build());
    writer.get_or_load(5, value("five")).await.unwrap();
    // The reader's tier read has read the entry and its generations, and is held there.
    tier.get.close();
    let read = tokio::spawn({
        let reader = reader.clone();
        async move { reader.get(&5).await }
    });
    until(|| tier.get.waiting() == 1).await;
    reader.invalidate_tags(["all"]).await.unwrap();
    tier.get.open();
    // Its waiter was already waiting: it may get the value; memory must not keep it.
    let _ = read.await.unwrap();
    reader.idle().await;
    assert_eq!(reader.len(), 0);
    assert_eq!(reader.get(&5).await, None);
    assert_eq!(build().get(&5).await, None);
}

#[tokio::test]
async fn entries_another_instance_wrote_are_invalidated_in_the_shared_tier() {
    let tier = Arc::new(MemoryStorage::<u32, String>::new(100));
    let zone = Zone::new("shared");
    let build = || -> Cache<u32, String> {
        Cache::builder()
            .zone(&zone)
            .zone_key(|k: &u32| *k)
            .tier(Tier::new(Arc::clone(&tier)))
            .build()
            .unwrap()
    };
    let (one, two) = (build(), build());
    one.get_or_load(1, value("a")).await.unwrap();
    one.get_or_load(2, value("b")).await.unwrap();
    // Another instance invalidates through its own zone handle of the same name.
    let other_zone = Zone::new("shared");
    let three: Cache<u32, String> = Cache::builder()
        .zone(&other_zone)
        .zone_key(|k: &u32| *k)
        .tier(Tier::new(Arc::clone(&tier)))
        .build()
        .unwrap();
    other_zone.invalidate(1).await.unwrap();
    assert_eq!(
        two.get(&1).await,
        None,
        "the tier's entry is of an old generation"
    );
    assert_eq!(two.get(&2).await.as_deref(), Some("b"));
    assert_eq!(three.get(&1).await, None);
    // The writer's own memory keeps its copy (the documented limit until invalidations
    // travel between processes).
    assert_eq!(one.get(&1).await.as_deref(), Some("a"));
}

#[tokio::test]
async fn a_panicking_tag_function_is_contained() {
    let tier = Held::<u32, String>::new();
    let cache: Cache<u32, String> = Cache::builder()
        .tags(|k: &u32| {
            assert_ne!(*k, 13, "unlucky");
            [*k]
        })
        .tier(Tier::new(Arc::clone(&tier)))
        .build()
        .unwrap();
    assert_eq!(cache.get_or_load(13, value("x")).await.unwrap(), "x");
    cache.get_or_load(1, value("one")).await.unwrap();
    assert!(cache.stats().callback_panics >= 1);
    assert_eq!(
        tier.value(13).await,
        None,
        "not stampable: not written to the tier"
    );
    assert_eq!(tier.value(1).await.as_deref(), Some("one"));
    // An invalidation removes the key whose tags are unknown, and the others it names.
    cache.invalidate_tags([2]).await.unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get(&1).await.as_deref(), Some("one"));
}

/// A storage that cannot keep tags.
struct NoTags(MemoryStorage<u32, String>);

impl Storage<u32, String> for NoTags {
    fn name(&self) -> &str {
        "no-tags"
    }
    fn get<'a>(
        &'a self,
        key: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<String>>, StorageError>> {
        self.0.get(key)
    }
    fn set<'a>(
        &'a self,
        key: &'a u32,
        entry: StoredEntry<String>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.0.set(key, entry)
    }
    fn remove<'a>(&'a self, key: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        self.0.remove(key)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
}

#[test]
fn a_tier_that_cannot_keep_tags_is_refused_at_build() {
    let built = Cache::<u32, String>::builder()
        .tags(|k: &u32| [*k])
        .tier(Tier::new(NoTags(MemoryStorage::new(10))))
        .build();
    assert!(matches!(built, Err(BuildError::TagsUnsupported { tier }) if tier == "no-tags"));
    // Without tags it is fine.
    let plain = Cache::<u32, String>::builder().tier(Tier::new(NoTags(MemoryStorage::new(10))));
    assert!(plain.build().is_ok());
}

#[tokio::test]
async fn another_instance_s_load_in_flight_during_an_invalidation_writes_a_stale_entry() {
    // The stamp a flight writes is the one its tier read made, before its load: an
    // invalidation made meanwhile by another instance (another process) leaves its value a
    // miss for everyone reading the tier.
    let tier = Arc::new(MemoryStorage::<u32, String>::new(100));
    let build = || -> Cache<u32, String> {
        Cache::builder()
            .tags(|_: &u32| ["all"])
            .tier(Tier::new(Arc::clone(&tier)))
            .build()
            .unwrap()
    };
    let (loader_side, invalidator) = (build(), build());
    let (gate, calls) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
    let load = tokio::spawn({
        let (cache, gate, calls) = (loader_side.clone(), Arc::clone(&gate), Arc::clone(&calls));
        async move {
            cache
                .get_or_load(1, move || async move {
                    calls.fetch_add(1, SeqCst);
                    gate.notified().await;
                    Ok::<_, Io>("loaded before".to_string())
                })
                .await
        }
    });
    until(|| calls.load(SeqCst) == 1).await;
    invalidator.invalidate_tags(["all"]).await.unwrap();
    gate.notify_waiters();
    assert_eq!(load.await.unwrap().unwrap(), "loaded before");
    loader_side.idle().await;
    assert!(tier.get(&1).await.unwrap().is_some(), "written to the tier");
    assert_eq!(build().get(&1).await, None, "but stale for every reader");
    // A load that starts after the invalidation is current again.
    invalidator.get_or_load(1, value("after")).await.unwrap();
    assert_eq!(build().get(&1).await.as_deref(), Some("after"));
}

#[test]
fn scoped_keys_round_trip_through_serde_once_their_scope_joined_a_cache() {
    static JOINED: LazyLock<Scope<u32>> = LazyLock::new(|| Scope::new("tests::serde"));
    static UNKNOWN: LazyLock<Scope<u32>> = LazyLock::new(|| Scope::new("tests::never-joined"));
    let json = serde_json::to_string(&Scoped::new(&JOINED, 7)).unwrap();
    assert_eq!(json, r#"["tests::serde",7]"#);
    // Not joined yet: this process holds no entry of it.
    assert!(serde_json::from_str::<Scoped<u32>>(&json).is_err());
    let cache: Cache<Scoped<u32>, String> = Cache::new();
    cache.join_scope(&JOINED);
    let back: Scoped<u32> = serde_json::from_str(&json).unwrap();
    assert!(std::ptr::eq(back.scope(), &*JOINED) && *back.key() == 7);
    let other = serde_json::to_string(&Scoped::new(&UNKNOWN, 7)).unwrap();
    assert!(serde_json::from_str::<Scoped<u32>>(&other).is_err());
}
