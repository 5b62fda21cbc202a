//! What the code written by `#[memoize]` needs from the runtime. Not a public API: it
//! changes with the macro.

use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use crate::{Cache, CacheBuilder, Error, Memo};

/// The method timeout of functions returning a plain value, which have no way to report a
/// timeout: 100 years, which Tokio treats as "never".
pub const NO_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The options written in the attribute (checked at compile time), applied over the builder
/// (the default one, or the one given with `config = ...`).
pub struct Settings {
    /// `name = "..."`, or the function's path when no `config` is given.
    pub name: Option<String>,
    /// `capacity = N`.
    pub capacity: Option<usize>,
    /// `update_after = "..."`.
    pub update_after: Option<Duration>,
    /// `expire_after = "..."`.
    pub expire_after: Option<Duration>,
    /// `timeout = "..."`, or [`NO_TIMEOUT`] for a function returning a plain value.
    pub method_timeout: Option<Duration>,
    /// `max_hits = N`.
    pub max_hits: Option<u32>,
}

/// Builds the static cache of a memoized function.
///
/// # Panics
/// When the options are invalid, which only a `config = ...` builder can make so (the
/// attribute's own options are checked at compile time): the function cannot run without its
/// cache.
pub fn build<K: Key, V: Value>(
    builder: CacheBuilder<K, V>,
    settings: Settings,
    function: impl Fn() -> String,
) -> Cache<K, V> {
    // Every entry carries the function's own tag: `Memo::invalidate_all` is one generation
    // bump in each tier, whatever else the tier holds.
    let mut b = builder.own_tag(&function());
    if let Some(name) = settings.name {
        b = b.name(name);
    }
    if let Some(n) = settings.capacity {
        b = b.capacity(n);
    }
    if let Some(d) = settings.update_after {
        b = b.update_after(d);
    }
    if let Some(d) = settings.expire_after {
        b = b.expire_after(d);
    }
    if let Some(d) = settings.method_timeout {
        b = b.method_timeout(d);
    }
    if let Some(n) = settings.max_hits {
        b = b.max_hits(n);
    }
    match b.build() {
        Ok(cache) => cache,
        Err(e) => panic!(
            "#[memoize] on `{}`: the cache options are invalid: {e}",
            function()
        ),
    }
}

/// The handle of a memoized function over its cache.
pub fn memo<K, V, F>(
    cache: &'static Cache<K, V>,
    key: F,
    function: &'static str,
    shared: bool,
) -> Memo<K, V, F> {
    Memo {
        cache,
        key,
        function,
        shared,
    }
}

/// The handle's cache, without the bounds of [`Memo::cache`].
pub fn cache_of<K, V, F>(memo: &Memo<K, V, F>) -> &'static Cache<K, V> {
    memo.cache
}

/// A call of a memoized function returning `Result<T, E>`. `make_loader` builds the loader
/// (copying the arguments) only when the cache needs one.
pub async fn load<K, V, E, M, F, Fut>(
    cache: &Cache<K, V>,
    key: K,
    make_loader: M,
) -> Result<V, Error<E>>
where
    K: Key,
    V: Value,
    E: LoadError,
    M: FnOnce() -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    cache.get_or_load_lazy(key, make_loader).await
}

/// A call of a memoized function returning a plain value. Its load has no timeout, so it can
/// only fail by panicking or by being cancelled with the runtime that ran it; the panic then
/// goes on in the caller, as it would have without `#[memoize]`.
pub async fn load_plain<K, V, M, F, Fut>(cache: &Cache<K, V>, key: K, make_loader: M) -> V
where
    K: Key,
    V: Value,
    M: FnOnce() -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = V> + Send + 'static,
{
    let make = move || {
        let loader = make_loader();
        move || async move { Ok::<V, std::convert::Infallible>(loader().await) }
    };
    match cache.get_or_load_lazy(key, make).await {
        Ok(value) => value,
        Err(error) => {
            let function = cache.name().unwrap_or("a memoized function");
            match error {
                Error::Panicked(message) => panic!("`{function}` panicked: {message}"),
                other => panic!("`{function}` failed: {other}"),
            }
        }
    }
}

// The checking traits. Each is implemented for every type that qualifies; the
// `do_not_recommend` makes the compiler report the trait (and its message) rather than the
// first of its bounds that is missing.

/// A by-value argument of a default key.
#[diagnostic::on_unimplemented(
    message = "this argument of type `{Self}` cannot be part of a `#[memoize]` cache key",
    label = "not `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "the default key is made of every argument; give the key yourself with \
            `#[memoize(key: Type = <expr using the arguments>)]`"
)]
pub trait KeyArgument: Hash + Eq + Clone + Send + Sync + 'static {}
#[diagnostic::do_not_recommend]
impl<T: Hash + Eq + Clone + Send + Sync + 'static> KeyArgument for T {}

/// A `&T` argument of a default key: the key holds `T::to_owned()`.
#[diagnostic::on_unimplemented(
    message = "this argument of type `&{Self}` cannot be part of a `#[memoize]` cache key",
    label = "its owned form is not `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "the default key is made of every argument, a `&T` as `T::to_owned()`; give the key \
            yourself with `#[memoize(key: Type = <expr using the arguments>)]`"
)]
pub trait KeyReference {}
#[diagnostic::do_not_recommend]
impl<T> KeyReference for T
where
    T: ToOwned + ?Sized,
    T::Owned: Hash + Eq + Send + Sync + 'static,
{
}

/// A cache key: the tuple of the arguments, or the type given with `key: Type = ...`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[memoize]` cache key",
    label = "not `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "give the key yourself with `#[memoize(key: Type = <expr using the arguments>)]`"
)]
pub trait Key: Hash + Eq + Clone + Send + Sync + 'static {}
#[diagnostic::do_not_recommend]
impl<T: Hash + Eq + Clone + Send + Sync + 'static> Key for T {}

/// A value a memoized function returns (the `T` of `Result<T, E>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached by `#[memoize]`",
    label = "not `Clone + Send + Sync + 'static`",
    note = "every caller gets a clone of the cached value: wrap a value that is not `Clone` in an `Arc`"
)]
pub trait Value: Clone + Send + Sync + 'static {}
#[diagnostic::do_not_recommend]
impl<T: Clone + Send + Sync + 'static> Value for T {}

/// The error of a memoized function returning `Result<T, E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a `#[memoize]` function",
    label = "not `Send + Sync + 'static`",
    note = "the error is shared by every waiting caller as `memocache::Error::Load(Arc<E>)`"
)]
pub trait LoadError: Send + Sync + 'static {}
#[diagnostic::do_not_recommend]
impl<T: Send + Sync + 'static> LoadError for T {}

/// Checks a by-value argument of a default key.
pub const fn assert_key_argument<T: KeyArgument>() {}
/// Checks a `&T` argument of a default key.
pub const fn assert_key_reference<T: KeyReference + ?Sized>() {}
/// Checks a `key: Type`.
pub const fn assert_key<T: Key>() {}
/// Checks a value type.
pub const fn assert_value<T: Value>() {}
/// Checks an error type.
pub const fn assert_error<T: LoadError>() {}

#[cfg(feature = "node")]
pub use crate::node::Declared as DeclaredNode;
#[cfg(feature = "node")]
pub use inventory;

/// What `nodes()` lists for a node type declared with `#[node]`.
#[cfg(feature = "node")]
pub fn node_info<N: crate::node::Node>() -> crate::node::NodeInfo {
    crate::node::NodeInfo::new(N::name(), &N::options(), false)
}

/// The call of a function memoized with `node = ...`: the node's chain, the function's body
/// as the loader.
#[cfg(feature = "node")]
pub async fn load_node<N, M, F, Fut>(node: &N, make_loader: M) -> Result<N::Value, Error<N::Error>>
where
    N: crate::node::Node,
    M: FnOnce() -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<N::Value, N::Error>> + Send + 'static,
{
    crate::node::get_lazy(node, make_loader).await
}

/// A `{field}` of a `#[node]` key text: its `Display` text escaped as key text, so that no
/// field value can contain the `:` separator.
#[cfg(feature = "node")]
pub fn key_part<T: std::fmt::Display + ?Sized>(value: &T) -> String {
    use crate::key::CacheKey;
    value.to_string().to_key_string()
}

/// `#[memoize(storage = "name")]`: `builder` with a tier over the storage registered as
/// `name` (resolved on the function's first use of it; until registered, a counted miss),
/// entries under `memocache:memoize:1:{function path}:{key}`, JSON records.
#[cfg(all(feature = "config", feature = "json"))]
pub fn with_storage<K, V>(builder: CacheBuilder<K, V>, name: &str) -> CacheBuilder<K, V>
where
    K: crate::registry::TierKey,
    V: crate::registry::TierValue,
{
    let namespace = crate::key::Namespace::new("memoize");
    builder.tier(crate::registry::lazy_tier(
        name,
        namespace,
        crate::codec::Codec::json(),
    ))
}
