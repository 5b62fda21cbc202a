//! `#[memoize]` behaviour, through the macro. Each test memoizes its own functions: a
//! memoized function's cache is a static shared by every test of this binary.

#![cfg(feature = "macros")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memocache::{memoize, Cache, Error};
use tokio::sync::Notify;

/// Counts the loader calls of one function.
struct Calls(AtomicUsize);

impl Calls {
    const fn new() -> Self {
        Calls(AtomicUsize::new(0))
    }
    fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

// --- hit --------------------------------------------------------------------------------

static HIT_CALLS: Calls = Calls::new();

#[memoize]
async fn hit_len(s: &str, times: usize) -> usize {
    HIT_CALLS.bump();
    s.len() * times
}

#[tokio::test]
async fn a_second_call_with_the_same_arguments_is_a_hit() {
    assert_eq!(hit_len("abc", 2).await, 6);
    assert_eq!(hit_len("abc", 2).await, 6);
    assert_eq!(HIT_CALLS.get(), 1);
    assert_eq!(hit_len("abc", 3).await, 9);
    assert_eq!(hit_len("abcd", 2).await, 8);
    assert_eq!(HIT_CALLS.get(), 3);
    let stats = hit_len_memo().stats();
    assert_eq!(stats.hits_fresh, 1);
    assert_eq!(stats.misses, 3);
    // The default key is the tuple of the owned arguments.
    assert_eq!(hit_len_memo().key(("abc", 2)), ("abc".to_string(), 2));
    assert_eq!(
        hit_len_memo().cache().name(),
        Some(concat!(module_path!(), "::hit_len"))
    );
}

// --- stale refresh ------------------------------------------------------------------------

static STALE_CALLS: Calls = Calls::new();

#[memoize(update_after = "1s", expire_after = "10s")]
async fn stale_version(id: u32) -> (u32, usize) {
    (id, STALE_CALLS.bump())
}

#[tokio::test(start_paused = true)]
async fn a_stale_value_is_served_while_one_refresh_replaces_it() {
    assert_eq!(stale_version(1).await, (1, 1));
    tokio::time::advance(Duration::from_secs(2)).await;
    // Stale: served at once, one refresh starts.
    assert_eq!(stale_version(1).await, (1, 1));
    assert_eq!(stale_version(1).await, (1, 1));
    // Let the refresh task run.
    while stale_version_memo().cache().loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(stale_version(1).await, (1, 2));
    assert_eq!(STALE_CALLS.get(), 2);
    assert_eq!(stale_version_memo().stats().refreshes_started, 1);
    // Past expire_after: the next call waits for a load.
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(stale_version(1).await, (1, 3));
}

// --- coalescing -------------------------------------------------------------------------

static COALESCE_CALLS: Calls = Calls::new();
static COALESCE_GATE: Notify = Notify::const_new();

#[memoize]
async fn coalesced(key: String) -> Result<String, std::io::Error> {
    COALESCE_CALLS.bump();
    COALESCE_GATE.notified().await;
    Ok(format!("loaded {key}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_make_one_load() {
    let tasks: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(coalesced("k".to_string())))
        .collect();
    // Release the load only once the other 999 calls have joined it (so that none of them
    // can arrive after it finished and be a plain hit).
    let joined = async {
        while coalesced_memo().stats().coalesced < 999 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), joined)
        .await
        .unwrap_or_else(|_| panic!("not coalesced: {:?}", coalesced_memo().stats()));
    COALESCE_GATE.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "loaded k");
    }
    assert_eq!(COALESCE_CALLS.get(), 1);
    let stats = coalesced_memo().stats();
    assert_eq!(stats.loads_started, 1);
    assert_eq!(stats.coalesced + 1, 1000);
}

// --- errors are not cached ------------------------------------------------------------------

static FAIL_CALLS: Calls = Calls::new();

#[derive(Debug, PartialEq)]
struct Flaky(usize);

#[memoize]
async fn fail_first(n: u8) -> Result<u8, Flaky> {
    let call = FAIL_CALLS.bump();
    if call == 1 {
        Err(Flaky(call))
    } else {
        Ok(n)
    }
}

#[tokio::test]
async fn errors_reach_the_caller_and_are_not_cached() {
    match fail_first(7).await {
        Err(Error::Load(e)) => assert_eq!(*e, Flaky(1)),
        other => panic!("expected the loader's error, got {other:?}"),
    }
    assert_eq!(fail_first(7).await.unwrap(), 7);
    assert_eq!(fail_first(7).await.unwrap(), 7);
    assert_eq!(FAIL_CALLS.get(), 2);
    assert_eq!(fail_first_memo().len(), 1);
}

// --- timeout -----------------------------------------------------------------------------

static SLOW_CALLS: Calls = Calls::new();

#[memoize(timeout = "100ms")]
async fn slow(ms: u64) -> Result<u64, std::convert::Infallible> {
    SLOW_CALLS.bump();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(ms)
}

#[tokio::test(start_paused = true)]
async fn a_load_past_the_timeout_fails_with_timeout() {
    match slow(1_000).await {
        Err(Error::Timeout(d)) => assert_eq!(d, Duration::from_millis(100)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(slow(50).await.unwrap(), 50);
    // Not cached: the next call loads again (and times out again).
    assert!(slow(1_000).await.unwrap_err().is_timeout());
    assert_eq!(SLOW_CALLS.get(), 3);
    assert_eq!(slow_memo().stats().timeouts, 2);
}

// --- panics -------------------------------------------------------------------------------

#[memoize]
async fn panics_fallible(n: u32) -> Result<u32, String> {
    if n == 0 {
        panic!("zero is not allowed");
    }
    Ok(n)
}

#[tokio::test]
async fn a_panic_in_a_fallible_function_is_an_error() {
    match panics_fallible(0).await {
        Err(Error::Panicked(m)) => assert!(m.contains("zero is not allowed"), "{m}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(panics_fallible(1).await.unwrap(), 1);
}

#[memoize]
async fn panics_plain(n: u32) -> u32 {
    if n == 0 {
        panic!("zero is not allowed");
    }
    n
}

#[tokio::test]
async fn a_panic_in_a_plain_function_goes_on_in_the_caller() {
    let caller = tokio::spawn(panics_plain(0));
    let panic = caller.await.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("panics_plain` panicked: zero is not allowed"),
        "{message}"
    );
    // Nothing was stored; a good call still works.
    assert_eq!(panics_plain(2).await, 2);
}

// --- invalidation ---------------------------------------------------------------------------

static INVALIDATE_CALLS: Calls = Calls::new();

#[memoize]
async fn versioned(name: &str, n: u32) -> String {
    format!("{name}-{n}-v{}", INVALIDATE_CALLS.bump())
}

#[tokio::test]
async fn invalidate_for_arguments_and_invalidate_all() {
    assert_eq!(versioned("a", 1).await, "a-1-v1");
    assert_eq!(versioned("b", 1).await, "b-1-v2");
    assert_eq!(versioned("a", 1).await, "a-1-v1");

    versioned_memo().invalidate(("a", 1)).await.unwrap();
    assert_eq!(versioned("a", 1).await, "a-1-v3");
    assert_eq!(
        versioned("b", 1).await,
        "b-1-v2",
        "other arguments keep their entry"
    );

    versioned_memo().invalidate_all().await.unwrap();
    assert!(versioned_memo().is_empty());
    assert_eq!(versioned("a", 1).await, "a-1-v4");
    assert_eq!(versioned("b", 1).await, "b-1-v5");
}

// --- methods ----------------------------------------------------------------------------------

#[derive(Clone)]
struct Repo {
    id: u64,
    calls: Arc<AtomicUsize>,
}

impl Repo {
    fn new(id: u64) -> Self {
        Repo {
            id,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// `self` is not part of the key: every `Repo` shares the entries.
    #[memoize]
    async fn shared_lookup(&self, n: u64) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("repo {} / {n}", self.id)
    }

    /// `self` identified by its `id` in the key.
    #[memoize(key: (u64, u64) = (self.id, n))]
    async fn own_lookup(&self, n: u64) -> Result<String, std::io::Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("repo {} / {n}", self.id))
    }

    /// A by-value receiver (`Arc<Self>`) is moved into the load.
    #[memoize]
    async fn arc_lookup(self: Arc<Self>, n: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.id * 1000 + n
    }

    /// An associated function without a receiver that names `Self`.
    #[memoize]
    async fn build(id: u64) -> Result<u64, std::io::Error> {
        Ok(Self::new(id).id + 1)
    }
}

#[tokio::test]
async fn a_method_leaves_self_out_of_the_key_by_default() {
    let (one, two) = (Repo::new(1), Repo::new(2));
    assert_eq!(one.shared_lookup(5).await, "repo 1 / 5");
    assert_eq!(
        two.shared_lookup(5).await,
        "repo 1 / 5",
        "same key: `self` is not in it"
    );
    assert_eq!(one.calls.load(Ordering::SeqCst), 1);
    assert_eq!(two.calls.load(Ordering::SeqCst), 0);
    Repo::shared_lookup_memo().invalidate((5,)).await.unwrap();
    assert_eq!(two.shared_lookup(5).await, "repo 2 / 5");
}

#[tokio::test]
async fn a_method_can_put_self_in_the_key() {
    let (one, two) = (Repo::new(11), Repo::new(12));
    assert_eq!(one.own_lookup(5).await.unwrap(), "repo 11 / 5");
    assert_eq!(two.own_lookup(5).await.unwrap(), "repo 12 / 5");
    assert_eq!(one.own_lookup(5).await.unwrap(), "repo 11 / 5");
    assert_eq!(one.calls.load(Ordering::SeqCst), 1);
    assert_eq!(two.calls.load(Ordering::SeqCst), 1);
    // The key uses `self`, so invalidation takes the receiver first.
    let memo = Repo::own_lookup_memo();
    assert_eq!(memo.key((&one, 5)), (11, 5));
    memo.invalidate((&one, 5)).await.unwrap();
    assert_eq!(one.own_lookup(5).await.unwrap(), "repo 11 / 5");
    assert_eq!(one.calls.load(Ordering::SeqCst), 2);
    assert_eq!(two.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn by_value_receivers_and_associated_functions() {
    let repo = Arc::new(Repo::new(3));
    assert_eq!(repo.clone().arc_lookup(4).await, 3004);
    assert_eq!(repo.clone().arc_lookup(4).await, 3004);
    assert_eq!(repo.calls.load(Ordering::SeqCst), 1);
    assert_eq!(Repo::build(9).await.unwrap(), 10);
    assert_eq!(Repo::build_memo().len(), 1);
    assert!(Repo::build_memo()
        .cache()
        .name()
        .unwrap()
        .ends_with("Repo::build"));
}

// --- custom key ---------------------------------------------------------------------------------

static GREET_CALLS: Calls = Calls::new();

#[memoize(key: String = name.to_lowercase())]
async fn greet(name: &str) -> String {
    GREET_CALLS.bump();
    format!("Hello, {name}!")
}

#[tokio::test]
async fn a_custom_key_makes_calls_case_insensitive() {
    assert_eq!(greet("World").await, "Hello, World!");
    assert_eq!(greet("WORLD").await, "Hello, World!");
    assert_eq!(greet("world").await, "Hello, World!");
    assert_eq!(GREET_CALLS.get(), 1);
    assert_eq!(greet_memo().key(("WoRlD",)), "world");
    greet_memo().invalidate(("WORLD",)).await.unwrap();
    assert_eq!(greet("WORLD").await, "Hello, WORLD!");
}

// --- options ------------------------------------------------------------------------------------

static HITS_CALLS: Calls = Calls::new();

#[memoize(max_hits = 2, capacity = 10, name = "limited")]
async fn limited() -> usize {
    HITS_CALLS.bump()
}

#[tokio::test]
async fn max_hits_capacity_and_name() {
    // Loaded, then served twice from the cache, then loaded again.
    assert_eq!(
        [
            limited().await,
            limited().await,
            limited().await,
            limited().await
        ],
        [1, 1, 1, 2]
    );
    let cache = limited_memo().cache();
    assert_eq!(cache.capacity(), 10);
    assert_eq!(cache.name(), Some("limited"));
}

static CONFIG_CALLS: Calls = Calls::new();

#[memoize(config = Cache::builder().capacity(3).name("configured"), max_hits = 1)]
async fn configured(n: u32) -> Result<u32, std::io::Error> {
    CONFIG_CALLS.bump();
    Ok(n)
}

#[tokio::test]
async fn config_gives_the_builder_and_options_apply_on_top() {
    for n in 0..5 {
        configured(n).await.unwrap();
    }
    let cache = configured_memo().cache();
    assert_eq!(cache.capacity(), 3);
    assert_eq!(cache.name(), Some("configured"));
    assert_eq!(cache.len(), 3);
    configured(4).await.unwrap(); // the one hit max_hits allows
    configured(4).await.unwrap(); // loaded again
    assert_eq!(CONFIG_CALLS.get(), 6);
}

static SHARED: std::sync::LazyLock<Cache<memocache::Scoped<u64>, String>> =
    std::sync::LazyLock::new(|| Cache::builder().capacity(100).build().unwrap());

#[memoize(cache = SHARED)]
async fn user_name(id: u64) -> Result<String, std::io::Error> {
    Ok(format!("user {id}"))
}

#[memoize(cache = SHARED)]
async fn user_name_again(id: u64) -> Result<String, std::io::Error> {
    Ok(format!("other {id}"))
}

#[tokio::test]
async fn functions_sharing_one_cache_never_mix_their_entries() {
    assert_eq!(user_name(1).await.unwrap(), "user 1");
    // Same arguments, same cache: each function has its own entry.
    assert_eq!(user_name_again(1).await.unwrap(), "other 1");
    assert_eq!(user_name(1).await.unwrap(), "user 1");
    assert_eq!(SHARED.len(), 2);
    assert!(std::ptr::eq(user_name_memo().cache(), &*SHARED));
    assert_eq!(user_name_memo().key((1,)).key(), &1);
    assert_eq!(
        user_name_memo().key((1,)).scope().name(),
        concat!(module_path!(), "::user_name")
    );
    user_name_again(2).await.unwrap();
    // `invalidate_all` of one function leaves the other's entries.
    user_name_again_memo().invalidate_all().await.unwrap();
    assert_eq!(SHARED.len(), 1);
    assert_eq!(
        SHARED.get(&user_name_memo().key((1,))).await.as_deref(),
        Some("user 1")
    );
    user_name_memo().invalidate((1,)).await.unwrap();
    assert!(SHARED.is_empty());
}

// --- zones and tags ---------------------------------------------------------------------------------

static AUTHORS: std::sync::LazyLock<memocache::Zone> =
    std::sync::LazyLock::new(|| memocache::Zone::new("tests::authors").key(|author: &u64| *author));
static ZONE_LOADS: AtomicUsize = AtomicUsize::new(0);

/// Keyed by the author: the zone's key function applies.
#[memoize(zone = AUTHORS)]
async fn author_name(author: u64) -> Result<String, std::io::Error> {
    ZONE_LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("author {author}"))
}

/// Another key type: its own zone key, over the arguments by name, and explicit tags.
#[memoize(zone = AUTHORS, zone_key = author, tags = [format!("lang:{lang}")])]
async fn book_title(author: u64, book: u32, lang: &str) -> Result<String, std::io::Error> {
    ZONE_LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("book {book} by {author} in {lang}"))
}

#[tokio::test]
async fn memoized_functions_in_a_zone_are_cleared_by_dependency_and_all_at_once() {
    author_name(1).await.unwrap();
    author_name(2).await.unwrap();
    book_title(1, 10, "en").await.unwrap();
    book_title(2, 20, "fr").await.unwrap();
    assert_eq!(ZONE_LOADS.load(Ordering::SeqCst), 4);
    AUTHORS.invalidate(1).await.unwrap();
    assert_eq!((author_name_memo().len(), book_title_memo().len()), (1, 1));
    author_name(2).await.unwrap();
    book_title(2, 20, "fr").await.unwrap();
    assert_eq!(
        ZONE_LOADS.load(Ordering::SeqCst),
        4,
        "the others are still cached"
    );
    book_title_memo()
        .cache()
        .invalidate_tags(["lang:fr"])
        .await
        .unwrap();
    assert_eq!(book_title_memo().len(), 0);
    AUTHORS.invalidate_all().await.unwrap();
    assert!(author_name_memo().is_empty());
}

// --- argument forms ---------------------------------------------------------------------------------

#[memoize]
async fn patterns((a, b): (u32, u32), mut c: Vec<u8>, _: bool) -> u32 {
    c.push(1);
    a + b + c.len() as u32
}

#[memoize]
async fn no_arguments() -> &'static str {
    "constant"
}

#[memoize]
async fn with_lifetime<'a>(s: &'a str, items: &'a [u32]) -> usize {
    s.len() + items.len()
}

#[tokio::test]
async fn patterns_lifetimes_and_no_arguments() {
    assert_eq!(patterns((1, 2), vec![0], true).await, 5);
    assert_eq!(patterns((1, 2), vec![0], true).await, 5);
    assert_eq!(patterns_memo().stats().hits_fresh, 1);
    assert_eq!(
        patterns_memo().key(((1, 2), vec![0], true)),
        ((1, 2), vec![0], true)
    );
    assert_eq!(no_arguments().await, "constant");
    no_arguments_memo().invalidate(()).await.unwrap();
    assert_eq!(with_lifetime("ab", &[1, 2, 3]).await, 5);
    assert_eq!(
        with_lifetime_memo().key(("ab", &[1, 2, 3][..])),
        ("ab".to_string(), vec![1, 2, 3])
    );
}

// --- attributes and invalid configuration ---------------------------------------------------

/// `cfg` after `#[memoize]` applies to every item it writes: this compiles only if the
/// wrapper, the hidden body and the handle all disappear together.
#[memoize]
#[cfg(any())]
async fn configured_out() -> u32 {
    1
}

/// Documented functions keep their docs; lint attributes reach the body.
#[memoize]
#[allow(clippy::needless_return)]
async fn documented(n: u32) -> Result<u32, std::io::Error> {
    return Ok(n + 1);
}

#[tokio::test]
async fn attributes_are_kept() {
    assert_eq!(documented(1).await.unwrap(), 2);
}

#[memoize(config = Cache::builder().update_after(Duration::from_secs(60)).expire_after(Duration::from_secs(1)))]
async fn badly_configured() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[tokio::test]
#[should_panic(
    expected = "the cache options are invalid: update_after (60s) must not be greater than expire_after (1s)"
)]
async fn an_invalid_config_builder_panics_at_the_first_call() {
    let _ = badly_configured().await;
}

// --- recursion ----------------------------------------------------------------------------------

#[memoize]
async fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    fib_boxed(n - 1).await + fib_boxed(n - 2).await
}

/// The documented recipe: recursive calls go through a boxed `Send` future.
fn fib_boxed(n: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
    Box::pin(fib(n))
}

#[tokio::test]
async fn a_memoized_function_can_recurse_through_a_boxed_future() {
    assert_eq!(fib(80).await, 23_416_728_348_467_685);
    // Each n is loaded once; the second recursive call of each level is a hit.
    assert_eq!(fib_memo().stats().loads_started, 81);
}

// --- generic impl blocks --------------------------------------------------------------------------

#[derive(Clone)]
struct Tagged<T>(T);

impl<T: Clone + Send + Sync + 'static> Tagged<T> {
    #[memoize]
    async fn plus_one(&self, n: u32) -> u32 {
        n + 1
    }
}

#[tokio::test]
async fn the_instantiations_of_a_generic_impl_share_one_cache() {
    assert_eq!(Tagged(1u8).plus_one(3).await, 4);
    assert_eq!(Tagged("x").plus_one(3).await, 4);
    assert_eq!(Tagged::<u8>::plus_one_memo().stats().loads_started, 1);
    assert_eq!(Tagged::<&str>::plus_one_memo().stats().hits_fresh, 1);
}

// --- a hit copies nothing ------------------------------------------------------------------

/// Counts its clones: the loader's copy of `*self` and of a `&Arg` argument.
static SERVICE_CLONES: Calls = Calls::new();
static ARG_CLONES: Calls = Calls::new();

struct Service;

impl Clone for Service {
    fn clone(&self) -> Self {
        SERVICE_CLONES.bump();
        Service
    }
}

#[derive(Hash, PartialEq, Eq, Debug)]
struct Arg(u64);

impl Clone for Arg {
    fn clone(&self) -> Self {
        ARG_CLONES.bump();
        Arg(self.0)
    }
}

impl Service {
    #[memoize]
    async fn lookup(&self, n: u64) -> u64 {
        n * 2
    }
}

#[memoize]
async fn by_ref_arg(arg: &Arg) -> u64 {
    arg.0 + 1
}

#[tokio::test]
async fn a_hit_clones_neither_self_nor_arguments() {
    let s = Service;
    assert_eq!(s.lookup(21).await, 42);
    assert_eq!(
        SERVICE_CLONES.get(),
        1,
        "the miss clones self for its loader"
    );
    for _ in 0..10 {
        assert_eq!(s.lookup(21).await, 42);
    }
    assert_eq!(SERVICE_CLONES.get(), 1, "hits clone nothing");

    let a = Arg(7);
    assert_eq!(by_ref_arg(&a).await, 8);
    // the key is an owned copy on every call; the loader's copy (and the cache's own key
    // copies for its flight) only on the miss
    let after_miss = ARG_CLONES.get();
    assert!(after_miss >= 2, "key and loader copies on the miss");
    for _ in 0..10 {
        assert_eq!(by_ref_arg(&a).await, 8);
    }
    assert_eq!(ARG_CLONES.get(), after_miss + 10, "hits copy the key only");
}
