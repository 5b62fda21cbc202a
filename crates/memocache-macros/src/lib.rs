//! The `#[memoize]` attribute of memocache. Depend on the `memocache` crate and use it as
//! `memocache::memoize` (the code it writes refers to `::memocache`); its documentation is on
//! [`macro@memoize`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod duration;
mod emit;
mod expand;
mod node;
mod options;
mod params;
mod validate;

/// Memoizes an `async fn`: concurrent calls with the same key run the function once, later
/// calls are served from a cache, stale values are refreshed in the background.
///
/// # Table of contents
/// - [Quick start](#quick-start)
/// - [What the attribute writes](#what-the-attribute-writes)
/// - [Return types: `Result` and plain values](#return-types-result-and-plain-values)
/// - [Keys](#keys)
/// - [Methods](#methods)
/// - [The handle: invalidation, statistics, the cache](#the-handle-invalidation-statistics-the-cache)
/// - [Options](#options)
/// - [Shared caches, zones and tags](#shared-caches-zones-and-tags)
/// - [Concurrent calls and cancellation](#concurrent-calls-and-cancellation)
/// - [Limitations](#limitations)
/// - [Compile errors](#compile-errors)
/// - [Panics](#panics)
///
/// # Quick start
/// ```
/// use memocache::memoize;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User {
///     name: String,
/// }
///
/// #[derive(Debug)]
/// struct DbError;
///
/// /// Loads a user; only `Ok` values are cached.
/// #[memoize(update_after = "1m", expire_after = "10m", timeout = "5s")]
/// async fn user(id: u64) -> Result<User, DbError> {
///     Ok(User { name: format!("user {id}") }) // a database query in real life
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), memocache::Error<DbError>> {
/// let first = user(42).await?; // loads
/// let again = user(42).await?; // served from the cache
/// assert_eq!(first, again);
/// assert_eq!(user_memo().stats().loads_started, 1);
/// user_memo().invalidate((42,)).await?; // the next call loads again
/// # Ok(())
/// # }
/// ```
///
/// With no options, `#[memoize]` uses the defaults of [`CacheBuilder`] (py-memoize's): 4096
/// entries evicted least-recently-updated first, a background refresh after 10 minutes, never
/// served older than 30 minutes, a 2 minute method timeout.
///
/// # What the attribute writes
/// In place of `async fn name(args) -> R { body }` it writes three items:
/// - `async fn name(args)`, same name, arguments and visibility, which builds the key, clones
///   the arguments into a `'static` loader and asks the cache
///   ([`Cache::get_or_load_lazy`]);
/// - a hidden `async fn __memocache_name(args) -> R { body }`, the original function;
/// - `fn name_memo() -> memocache::Memo<K, V, _>`, with the function's visibility: the
///   [handle](#the-handle-invalidation-statistics-the-cache), which owns the function's
///   static cache (one per function, built on first use).
///
/// The function's own future must be `Send`: the load runs in a spawned task (or, in a cache
/// without tiers, in the first caller's future, moved to a spawned task if that caller is
/// dropped), so that a cancelled caller cannot cancel it for the others. A memoized function
/// must therefore be called inside a Tokio runtime — or anywhere with memocache's `smol` feature, whose loads outside Tokio are
/// handed to smol's global executor. Every call makes the key; the loader's owned
/// copies of the arguments (`to_owned()` of each `&T`, a clone of `*self`) are made only when the cache needs
/// a load — on a miss or a due refresh — never on a fresh hit (unless it starts an early
/// refresh, `early_refresh` in a `config` builder) ([`Cache::get_or_load_lazy`]). Keep receivers cheap to clone all the same (state in an `Arc`).
///
/// # Return types: `Result` and plain values
/// **`-> Result<T, E>`**: only `Ok` values are cached; an error goes to every caller waiting
/// for that load and is not stored (the next call loads again). The function then returns
/// **`Result<T, memocache::Error<E>>`**:
///
/// | outcome of the load | the caller gets |
/// |---|---|
/// | `Ok(value)` | `Ok(value)` (a clone of the cached value) |
/// | `Err(e)` | `Err(Error::Load(Arc<E>))`, the same `Arc` for every waiter |
/// | ran longer than the `timeout` | `Err(Error::Timeout(timeout))` |
/// | panicked | `Err(Error::Panicked(message))` |
/// | its runtime shut down | `Err(Error::Cancelled)` |
///
/// This is the one change the attribute makes to a signature, and it is deliberate: one load
/// answers many callers, so its error is shared (`E` need not be `Clone`), and a timeout or a
/// panic must reach the caller as a value, not as a panic. It is the type
/// [`Cache::get_or_load`] returns. [`Error<E>`][Error] implements `std::error::Error` when
/// `E` does, so `?` into `anyhow::Error` or `Box<dyn Error>` works; for `?` into your own
/// error type, implement `From<memocache::Error<YourError>> for YourError`. The return type
/// is recognised by its last path segment, `Result`, with two type arguments: write an alias
/// such as `io::Result<T>` in full (`Result<T, io::Error>`).
///
/// **Any other return type** `-> T` (or none) is an infallible load: the function keeps its
/// signature and returns `T`. It has no method timeout (it could not report one), so the
/// `timeout` option and `cache = ...` are refused at compile time and a `config` builder's
/// method timeout is replaced. A panic in the function goes on in the caller, as it would
/// have without the attribute (see [Panics](#panics)).
///
/// `T` must be `Clone + Send + Sync + 'static` (every hit returns a clone: put large values
/// in an `Arc`), `E` must be `Send + Sync + 'static`.
///
/// # Keys
/// The default key is made of every argument, in order, converted to owned values:
/// - an argument of type `T` is cloned (`T: Clone`);
/// - an argument of type `&T` is taken as `T::to_owned()` (`&str` → `String`, `&[u8]` →
///   `Vec<u8>`, `&Path` → `PathBuf`);
/// - no argument gives the key `()`, one argument gives that value itself (so
///   `async fn user(id: u64)` has the key type `u64`), several give a tuple.
///
/// Each part must be `Hash + Eq + Clone + Send + Sync + 'static`; otherwise a compile error
/// names the argument and suggests the `key` option. `&mut` arguments are refused.
///
/// `key: Type = <expr>` gives the key yourself: an expression over the arguments (and `self`
/// in a method), evaluated on each call; its type must be written, because it names the
/// function's static cache. fresco-memoize's case-insensitive key:
/// ```
/// use memocache::memoize;
///
/// #[memoize(key: String = name.to_lowercase())]
/// async fn greeting(name: &str) -> String {
///     format!("Hello, {name}!")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(greeting("World").await, "Hello, World!");
/// assert_eq!(greeting("WORLD").await, "Hello, World!"); // same key: served from the cache
/// assert_eq!(greeting_memo().stats().loads_started, 1);
/// # }
/// ```
/// Arguments must be plain identifiers for `key` to name them; other patterns (`(a, b): (u32,
/// u32)`, `_`) are allowed, and are part of the default key.
///
/// # Methods
/// `#[memoize]` works on methods of an inherent `impl` block (not a trait `impl`).
/// - **`&self`** is not part of the key by default (py-memoize's `skip_first_arg_as_self`):
///   every instance shares the entries. To tell instances apart, put an identity of `self` in
///   the key: `#[memoize(key: (u64, u32) = (self.id, n))]`.
/// - Because the load outlives the call, the loader gets its own copy of the receiver:
///   `&self` methods need `Self: Clone + Send + Sync + 'static` (wrap the state in an `Arc`
///   and derive `Clone`); by-value receivers (`self`, `self: Arc<Self>`) are moved into the
///   loader after the key is made. `&mut self` is refused.
/// - The handle is an associated function: `Self::name_memo()`, `Type::name_memo()`.
/// ```
/// use std::sync::Arc;
/// use memocache::memoize;
///
/// #[derive(Clone)]
/// struct Repo {
///     id: u64,
///     pool: Arc<String>, // the expensive state, shared by the clones
/// }
///
/// impl Repo {
///     /// Shared by every `Repo`: `self` is not in the key.
///     #[memoize]
///     async fn settings(&self, key: &str) -> String {
///         format!("{key} from {}", self.pool)
///     }
///
///     /// One entry per repository and name.
///     #[memoize(key: (u64, String) = (self.id, name.to_string()))]
///     async fn lookup(&self, name: &str) -> Result<String, std::io::Error> {
///         Ok(format!("{name} in repo {}", self.id))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), memocache::Error<std::io::Error>> {
/// let repo = Repo { id: 7, pool: Arc::new("db".into()) };
/// assert_eq!(repo.settings("color").await, "color from db");
/// assert_eq!(repo.lookup("x").await?, "x in repo 7");
/// // The key of `lookup` uses `self`, so its handle takes the receiver first.
/// Repo::lookup_memo().invalidate((&repo, "x")).await?;
/// # Ok(())
/// # }
/// ```
/// The macro writes `Self::` to reach the hidden items when the function has a receiver or
/// mentions `Self`; an associated function with neither is taken for a free function (the
/// compiler then reports that `name_memo` is not found; mention `Self` or move it out of
/// the `impl`).
///
/// # The handle: invalidation, statistics, the cache
/// `name_memo()` (`Self::name_memo()` for a method) returns a [`Memo`], a cheap copyable
/// handle on the function's cache:
/// - `invalidate(args).await` removes the entry of a call with these arguments, given as a
///   tuple: `()` for none, `(a,)` for one, `(a, b)` for two, the receiver first when the key
///   uses `self` (py-memoize's `invalidate_for_arguments`); a load of that key in flight
///   still answers its callers but is not stored;
/// - `invalidate_all().await` removes every entry of this function, and only its (in a
///   shared cache the other functions keep theirs; in a storage tier it is one write, however
///   many keys the tier holds: see [Shared caches, zones and tags](#shared-caches-zones-and-tags));
/// - `key(args)` is the key a call with these arguments uses;
/// - `stats()` ([`Stats`]), `len()`, and `cache()`, the underlying [`Cache`] (`&'static`).
///
/// # Options
/// `#[memoize(option = value, ...)]`, every option optional, checked at compile time:
///
/// | option | value | meaning |
/// |---|---|---|
/// | `capacity` | integer ≥ 1 | most entries kept (default 4096) |
/// | `update_after` | duration | age after which an entry is refreshed in the background, while still served (default `"10m"`) |
/// | `expire_after` | duration | age after which an entry is never served (default `"30m"`); not below `update_after` |
/// | `timeout` | duration | longest a load may run; then `Err(Error::Timeout)` (default `"2m"`; `Result` functions only) |
/// | `max_hits` | integer ≥ 1 | an entry is dropped after being served this many times from the cache (fresco-memoize) |
/// | `key` | `key: Type = expr` | the key, see [Keys](#keys) |
/// | `config` | expression | a whole [`CacheBuilder`] (py-memoize's `configuration=`): eviction policy, entry builder, post-processing, ...; the options above are applied on top of it |
/// | `cache` | expression | a shared cache: `&*expr` must be a `&'static Cache<Scoped<K>, V>` (a `static` `LazyLock<Cache<Scoped<K>, V>>`); excludes the options that configure a cache; see [below](#shared-caches-zones-and-tags) |
/// | `name` | string | the cache's name, in its `Debug` output and logs (default: the function's path, or without `name` the `config` builder's own name) |
/// | `zone` | expression | a [`Zone`] the function's entries belong to (`&expr` must deref to a `&Zone`: a `static` `LazyLock<Zone>`) |
/// | `zone_key` | expression over the arguments | the entry's dependency in its zone (its `Display` text), instead of the zone's key function (fresco-memoize's `zonekey=`) |
/// | `tags` | `[expr, ...]` over the arguments | more dependencies of the entry (their `Display` texts), invalidated with [`Cache::invalidate_tags`] or the zone's `invalidate` |
/// | `storage` | string | a storage registered under this name (`memocache::registry::register_storage("redis", "redis://...")`, before or after the first call) as a tier below the memory: entries under `memocache:memoize:1:{function path}:{key}`, JSON; until the name is registered, each tier operation is a counted miss (the function still runs) |
/// | `node` | expression over the arguments | a typed node (`memocache::node`) that supplies key, version, storages and statistics; the body is its loader; excludes every other option |
///
/// Durations are strings of `<integer><unit>` parts, largest unit first: `"200ms"`, `"30s"`,
/// `"10m"`, `"2h"`, `"1h30m"`, `"1d"` (units `d`, `h`, `m`, `s`, `ms`, `us`, `ns`).
///
/// ```
/// use std::time::Duration;
/// use memocache::{memoize, Cache, EvictionPolicy};
///
/// // A whole builder.
/// #[memoize(config = Cache::builder()
///     .eviction_policy(EvictionPolicy::Lru)
///     .update_after(Duration::from_secs(60))
///     .expire_after(Duration::from_secs(300)),
///     capacity = 100)]
/// async fn report(day: u32) -> Result<String, std::io::Error> {
///     Ok(format!("report {day}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), memocache::Error<std::io::Error>> {
/// assert_eq!(report(1).await?, "report 1");
/// assert_eq!(report_memo().cache().capacity(), 100);
/// # Ok(())
/// # }
/// ```
///
/// # Shared caches, zones and tags
/// **Shared caches.** `cache = SHARED` puts the function's entries in a cache that other
/// functions use too (one capacity, one set of tiers), yet **two functions never share an
/// entry**: the cache's keys are [`Scoped`], the function's scope (named by its path) and its
/// key, so equal arguments of two functions are two entries, in memory and in every storage
/// tier (the scope's name is part of the remote key). `name_memo().invalidate_all()` removes
/// the function's entries only.
///
/// **Zones** (fresco-memoize's): `zone = BOOKS` makes the function a member of the [`Zone`]
/// `BOOKS`: `BOOKS.invalidate_all()` clears every member, and `BOOKS.invalidate(dep)` every
/// entry, in every member, whose *zone key* is `dep`. The zone key is the zone's key function
/// ([`Zone::key`], for members whose key type it takes) or the function's own `zone_key = expr`.
/// **Tags**: `tags = [expr, ...]` gives more dependencies. `zone_key` and `tags` are
/// expressions over the arguments, by reference (with `key: T = ...`, over `key`), evaluated
/// when a load starts and during invalidations, never on a hit; since equal keys share an
/// entry, a dependency must be a function of the key.
///
/// Invalidation reaches every storage tier through per-tag generations (one write per tag,
/// whatever number of entries carry it) and so reaches entries other processes wrote there;
/// another process's memory keeps its copies until they expire. After `invalidate` returns,
/// no member serves a value whose load started before the call.
/// ```
/// use std::sync::LazyLock;
/// use memocache::{memoize, Cache, Scoped, Zone};
///
/// static BOOKS: LazyLock<Zone> = LazyLock::new(|| Zone::new("books").key(|author: &u64| *author));
/// static SHARED: LazyLock<Cache<Scoped<u64>, String>> = LazyLock::new(Cache::new);
///
/// #[memoize(zone = BOOKS)] // keyed by author: the zone's key function applies
/// async fn author_bio(author: u64) -> Result<String, std::io::Error> {
///     Ok(format!("bio of {author}"))
/// }
///
/// #[memoize(zone = BOOKS, zone_key = author, tags = [format!("lang:{lang}")])]
/// async fn title(author: u64, book: u32, lang: &str) -> Result<String, std::io::Error> {
///     Ok(format!("book {book} by {author} ({lang})"))
/// }
///
/// #[memoize(cache = SHARED)]
/// async fn name_from_db(id: u64) -> Result<String, std::io::Error> {
///     Ok(format!("db {id}"))
/// }
///
/// #[memoize(cache = SHARED)]
/// async fn name_from_api(id: u64) -> Result<String, std::io::Error> {
///     Ok(format!("api {id}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// author_bio(7).await?;
/// title(7, 1, "en").await?;
/// title(8, 2, "en").await?;
/// BOOKS.invalidate(7).await?; // everything that depends on author 7
/// assert_eq!((author_bio_memo().len(), title_memo().len()), (0, 1));
///
/// assert_eq!(name_from_db(1).await?, "db 1");
/// assert_eq!(name_from_api(1).await?, "api 1"); // same arguments, its own entry
/// name_from_db_memo().invalidate_all().await?; // the API's entry stays
/// assert_eq!(SHARED.len(), 1);
/// # Ok(())
/// # }
/// ```
///
/// # Concurrent calls and cancellation
/// Calls with the same key while a load is in flight wait for that load and all get its
/// outcome: a thousand concurrent calls make one call of the function. A stale entry (past
/// `update_after`) is returned at once while one background load replaces it. Dropping any
/// caller's future, even the first one's, does not cancel the load. See
/// [`Cache::get_or_load`] for the details.
///
/// # Limitations
/// - **Generic functions** (type or const parameters, `impl Trait` arguments) are refused:
///   a memoized function has one static cache, whose key and value types must be known.
///   Memoize one non-generic function per type. Lifetime parameters are fine.
/// - The key and value types are named in a `static`, so they cannot mention `Self` or the
///   generic parameters of an enclosing `impl<T>`.
/// - The function's cache is a `static`: it is shared by every caller in the process,
///   across Tokio runtimes (tests with `#[tokio::test]` share it too), and by every
///   instantiation of a generic `impl<T>` block (`T` is not part of the key).
/// - The code refers to the runtime as `::memocache`: depend on the crate under that name.
/// - **Recursion**: a memoized function calling itself directly does not compile (the
///   compiler cannot prove the recursive future `Send`); call it through a function that
///   boxes it, as below. A call with the *same* key from inside its own load would wait for
///   itself (until the `timeout`, for a `Result` function).
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use memocache::memoize;
///
/// #[memoize]
/// async fn fib(n: u64) -> u64 {
///     if n < 2 {
///         return n;
///     }
///     fib_boxed(n - 1).await + fib_boxed(n - 2).await
/// }
///
/// fn fib_boxed(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
///     Box::pin(fib(n))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(fib(80).await, 23_416_728_348_467_685); // 81 loads, not 10^16
/// assert_eq!(fib_memo().stats().loads_started, 81);
/// # }
/// ```
///
/// # Compile errors
/// A compile error, on the offending tokens, for: an unknown option or one given twice; a
/// value of the wrong kind (`capacity = "ten"`, `update_after = 10`, `name = users`); a
/// malformed duration (`"10 minutes"`, `"5min"`, `"1m1h"`); `capacity`, `max_hits` or
/// `expire_after` of zero; `update_after` above `expire_after` (defaults included); `key`
/// without its type, or using `self` in a function without receiver; `cache` with options
/// that configure a cache, or on a function without `Result`; `timeout` on a function
/// without `Result`; an item that is not a function; a function that is not `async`, is `const`, `unsafe`, `extern` or
/// generic, or takes `impl Trait`, `&mut` or `&mut self`; a return type `Result<T>` whose
/// error type is not written, or `impl Trait`; an argument that cannot be part of the key
/// (naming the argument, suggesting `key = ...`); a key, value or error type without the
/// bounds above. The option errors and the signature errors are reported together.
///
/// # Panics
/// - A function returning a plain `T` whose body panics: the panic goes on in every caller
///   waiting for that load, with the message `` `path::to::name` panicked: <message> ``, as
///   it would without `#[memoize]`; nothing is cached. (A function returning `Result` gets
///   `Err(Error::Panicked(..))` instead.) Likewise when the runtime that ran the load shut down
///   during it, which can only happen to a caller in another runtime.
/// - At the first call, when a `config = ...` builder is invalid (for example `update_after`
///   above `expire_after`): the function cannot run without its cache. The attribute's own
///   options are checked at compile time.
/// - When called outside a Tokio runtime without memocache's `smol` feature, as `tokio::spawn`
///   does.
///
/// [`CacheBuilder`]: https://docs.rs/memocache/latest/memocache/struct.CacheBuilder.html
/// [`Cache`]: https://docs.rs/memocache/latest/memocache/struct.Cache.html
/// [`Cache::get_or_load`]: https://docs.rs/memocache/latest/memocache/struct.Cache.html#method.get_or_load
/// [`Cache::get_or_load_lazy`]: https://docs.rs/memocache/latest/memocache/struct.Cache.html#method.get_or_load_lazy
/// [Error]: https://docs.rs/memocache/latest/memocache/enum.Error.html
/// [`Memo`]: https://docs.rs/memocache/latest/memocache/memo/struct.Memo.html
/// [`Stats`]: https://docs.rs/memocache/latest/memocache/struct.Stats.html
/// [`Scoped`]: https://docs.rs/memocache/latest/memocache/struct.Scoped.html
/// [`Zone`]: https://docs.rs/memocache/latest/memocache/struct.Zone.html
/// [`Zone::key`]: https://docs.rs/memocache/latest/memocache/struct.Zone.html#method.key
/// [`Cache::invalidate_tags`]: https://docs.rs/memocache/latest/memocache/struct.Cache.html#method.invalidate_tags
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    let item = syn::parse::<syn::ItemFn>(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "`#[memoize]` applies to an `async fn`: a free function or a method of an inherent \
             `impl` block",
        )
    });
    let expanded = item.and_then(|item| {
        // Report the errors of the options and of the signature together.
        match syn::parse::<options::Options>(attr) {
            Ok(options) => expand::expand(options, item),
            Err(mut e) => {
                if let Err(signature) = expand::expand(options::Options::default(), item) {
                    e.combine(signature);
                }
                Err(e)
            }
        }
    });
    match expanded {
        Ok(tokens) => tokens.into(),
        // Keep the function as written, so that the only errors are the macro's.
        Err(e) => {
            let error = e.into_compile_error();
            quote::quote!(#error #original).into()
        }
    }
}

/// Makes a type a typed cache node (`memocache::node::Node`, cacheme's `Node`) from an
/// inherent `impl` block holding its loader:
///
/// ```ignore
/// #[derive(Clone, Hash, PartialEq, Eq)]
/// struct UserInfo { user_id: u64 }
///
/// #[memocache::node(key = "user:{user_id}:info", version = "v1",
///                   memory(capacity = 10000, ttl = "30s"), tier("redis", ttl = "10d"))]
/// impl UserInfo {
///     async fn load(&self) -> Result<User, DbError> { db_fetch_user(self.user_id).await }
/// }
/// ```
///
/// The block needs `async fn load(&self) -> Result<V, E>` (written as a `Result<…, …>`), and
/// may have `async fn load_all(nodes: Vec<Self>)` returning a `memocache::BatchResult`. The
/// options:
///
/// | option | what |
/// |---|---|
/// | `key = "…"` (required) | the key text, `{field}` placeholders formatted with `Display`; unique across node types |
/// | `name = "…"` | the type's name in `nodes()` (default: the type as written) |
/// | `version = "…"` | last part of the remote key `{prefix}:{key}:{version}` |
/// | `memory(capacity = N, ttl = "30s")` | entries kept in the process (ttl optional) |
/// | `tier("storage", ttl = "10d")` | a registered storage below, in order (ttl optional) |
/// | `update_after`, `expire_after`, `timeout` | lifespans and the load limit (`"200ms"`, `"1h30m"`) |
/// | `policy = "lru"` / `"tinylfu"` / `"least-recently-updated"` | memory eviction |
/// | `doorkeeper` | store a node only from its second load on |
/// | `batch_window = "1ms"`, `max_batch = N` | gather concurrent single misses into one `load_all` |
/// | `options = path` | a `fn() -> NodeOptions` the other options are applied over (for a codec, say) |
#[proc_macro_attribute]
pub fn node(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    match node::expand(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let error = e.into_compile_error();
            quote::quote!(#error #original).into()
        }
    }
}
