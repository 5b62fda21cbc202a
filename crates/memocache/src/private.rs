//! What the code written by `#[memoize]` needs from the runtime. Not a public API: it
//! changes with the macro.

use std::convert::Infallible;
use std::hash::Hash;
use std::time::Duration;

use crate::{Cache, CacheBuilder, Error};

/// The method timeout of functions returning a plain value, which have no way to report a
/// timeout: 100 years, which Tokio treats as "never".
pub const NO_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Builds the static cache of a memoized function. The options written in the attribute were
/// checked at compile time; only a `config = ...` builder can be invalid here.
///
/// # Panics
/// When the builder's options are invalid: the function cannot run without its cache.
pub fn build<K, V>(builder: CacheBuilder<K, V>, function: impl FnOnce() -> String) -> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    match builder.build() {
        Ok(cache) => cache,
        Err(e) => panic!(
            "#[memoize] on `{}`: the cache options are invalid: {e}",
            function()
        ),
    }
}

/// A load of a function returning a plain value failed: it can only have panicked (there is
/// no timeout) or been cancelled by the shutdown of the runtime that ran it. The panic goes on
/// in the caller, as it would have without `#[memoize]`.
pub fn plain_load_failed<K, V>(cache: &Cache<K, V>, error: Error<Infallible>) -> !
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let function = cache.name().unwrap_or("a memoized function");
    match error {
        Error::Panicked(message) => panic!("`{function}` panicked: {message}"),
        other => panic!("`{function}` failed: {other}"),
    }
}

/// The part of a default key made from one argument.
#[diagnostic::on_unimplemented(
    message = "this argument of type `{Self}` cannot be part of a `#[memoize]` cache key",
    label = "not `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "the default key is made of every argument (a `&T` argument as `T::to_owned()`); \
            give the key yourself with `#[memoize(key: Type = <expr using the arguments>)]`"
)]
pub trait KeyArgument {}
impl<T: Hash + Eq + Clone + Send + Sync + 'static> KeyArgument for T {}

/// A key given with `key: Type = ...`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[memoize]` cache key",
    label = "not `Hash + Eq + Clone + Send + Sync + 'static`"
)]
pub trait Key {}
impl<T: Hash + Eq + Clone + Send + Sync + 'static> Key for T {}

/// A value a memoized function returns (the `T` of `Result<T, E>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached by `#[memoize]`",
    label = "not `Clone + Send + Sync + 'static`",
    note = "every caller gets a clone of the cached value: wrap a value that is not `Clone` in an `Arc`"
)]
pub trait Value {}
impl<T: Clone + Send + Sync + 'static> Value for T {}

/// The error of a memoized function returning `Result<T, E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a `#[memoize]` function",
    label = "not `Send + Sync + 'static`",
    note = "the error is shared by every waiting caller as `memocache::Error::Load(Arc<E>)`"
)]
pub trait LoadError {}
impl<T: Send + Sync + 'static> LoadError for T {}

/// Checks a default-key argument.
pub const fn assert_key_argument<T: KeyArgument + ?Sized>() {}
/// Checks a `key: Type`.
pub const fn assert_key<T: Key>() {}
/// Checks a value type.
pub const fn assert_value<T: Value>() {}
/// Checks an error type.
pub const fn assert_error<T: LoadError>() {}
