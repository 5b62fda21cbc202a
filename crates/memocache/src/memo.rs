//! [`Memo`]: the handle of one `#[memoize]`d function — its cache, its statistics, and
//! invalidation by the function's arguments.

use std::fmt;
use std::future::Future;
use std::hash::Hash;

use crate::storage::StorageError;
use crate::{Cache, Stats};

/// The handle of a memoized function, returned by the `<name>_memo()` function that
/// `#[memoize]` writes next to it (`Self::<name>_memo()` for a method).
///
/// `K` is the key type, `V` the cached value type and `F` the function that makes a key from
/// the arguments (a function pointer taking the memoized function's arguments).
///
/// ```
/// # #[cfg(feature = "macros")] {
/// use memocache::memoize;
///
/// #[memoize]
/// async fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(square(3).await, 9);
/// assert_eq!(square(3).await, 9);
/// let memo = square_memo();
/// assert_eq!(memo.stats().loads_started, 1);
/// assert_eq!(memo.key((3,)), 3);
/// memo.invalidate((3,)).await.unwrap(); // py-memoize's invalidate_for_arguments
/// assert_eq!(square(3).await, 9);
/// assert_eq!(memo.stats().loads_started, 2);
/// memo.invalidate_all().await.unwrap();
/// assert!(memo.is_empty());
/// # });
/// # }
/// ```
pub struct Memo<K: 'static, V: 'static, F> {
    pub(crate) cache: &'static Cache<K, V>,
    pub(crate) key: F,
    /// The function's path: its scope's name in a shared cache, its own tag's otherwise.
    pub(crate) function: &'static str,
    /// `cache = ...`: the cache is shared, its keys `Scoped`.
    pub(crate) shared: bool,
}

impl<K, V, F: Clone> Clone for Memo<K, V, F> {
    fn clone(&self) -> Self {
        Memo {
            cache: self.cache,
            key: self.key.clone(),
            function: self.function,
            shared: self.shared,
        }
    }
}

impl<K, V, F: Copy> Copy for Memo<K, V, F> {}

impl<K, V, F> fmt::Debug for Memo<K, V, F>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field("function", &self.function)
            .field("shared", &self.shared)
            .field("cache", self.cache)
            .finish()
    }
}

impl<K, V, F> Memo<K, V, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A handle over `cache` whose keys `key` makes (`#[memoize]` builds its handles through
    /// its hidden support code instead). Such a handle has no function name, so its
    /// [`invalidate_all`](Self::invalidate_all) clears the whole cache
    /// ([`Cache::invalidate_all`]), shared or not.
    pub fn new(cache: &'static Cache<K, V>, key: F) -> Self {
        Memo {
            cache,
            key,
            function: "",
            shared: false,
        }
    }

    /// The cache of the function (the shared one given with `cache = ...`, if any).
    pub fn cache(&self) -> &'static Cache<K, V> {
        self.cache
    }

    /// The key that a call with these arguments uses. `args` are the function's arguments
    /// as a tuple: `()` for none, `(a,)` for one, `(a, b)` for two; a method whose `key = ...`
    /// uses `self` takes the receiver first.
    pub fn key<A>(&self, args: A) -> K
    where
        F: KeyFn<A, K>,
    {
        self.key.key(args)
    }

    /// Removes the entry of a call with these arguments (a tuple, as for [`Memo::key`]); the
    /// next such call loads again. A load of that key already in flight still answers its
    /// callers but is not stored. py-memoize's `invalidate_for_arguments`.
    ///
    /// # Errors
    /// As [`Cache::invalidate`]: a storage tier that could not remove the key.
    ///
    /// # Cancel safety
    /// As [`Cache::invalidate`]: all or nothing. Dropped before its first poll it did
    /// nothing; from then on the key is gone from memory and the removal from the storage
    /// tiers completes in its own task.
    pub fn invalidate<A>(
        &self,
        args: A,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'static
    where
        F: KeyFn<A, K>,
    {
        let key = self.key.key(args);
        let cache = self.cache;
        async move { cache.invalidate(&key).await }
    }

    /// Removes every entry of this function, and only its: with `cache = ...` the other
    /// functions sharing the cache keep theirs. Loads of the function in flight still answer
    /// their callers but store nothing.
    ///
    /// In a storage tier this is one write, whatever else the tier holds: every entry of the
    /// function carries its tag, and the tag gets a new generation (see
    /// [`Cache::invalidate_tags`]); entries other processes wrote there are invalidated too
    /// (their memory keeps its copies until they expire). In memory, the function's own cache
    /// is cleared; a shared one is scanned for the function's keys. A function's own cache
    /// whose tiers cannot keep tags is cleared with [`Cache::invalidate_all`] instead.
    ///
    /// # Errors
    /// A storage tier that could not record the invalidation (or clear its namespace).
    ///
    /// # Cancel safety
    /// All or nothing, as [`Cache::invalidate_tags`].
    pub fn invalidate_all(
        &self,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'static {
        let (cache, function, shared) = (self.cache, self.function, self.shared);
        async move { cache.invalidate_function(function, shared).await }
    }

    /// The cache's statistics (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        self.cache.stats()
    }

    /// Entries in the cache, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// `true` when the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// Makes a key of type `K` from arguments passed as a tuple `Args`: implemented by every
/// `Fn(A1, .., An) -> K` for `Args = (A1, .., An)`, up to 12 arguments. [`Memo`] uses it so that
/// `invalidate` takes the memoized function's arguments.
pub trait KeyFn<Args, K> {
    /// The key of `args`.
    fn key(&self, args: Args) -> K;
}

macro_rules! key_fn {
    ($($a:ident),*) => {
        impl<Func, Key, $($a),*> KeyFn<($($a,)*), Key> for Func
        where
            Func: Fn($($a),*) -> Key,
        {
            #[allow(non_snake_case)]
            fn key(&self, ($($a,)*): ($($a,)*)) -> Key {
                self($($a),*)
            }
        }
    };
}

key_fn!();
key_fn!(A1);
key_fn!(A1, A2);
key_fn!(A1, A2, A3);
key_fn!(A1, A2, A3, A4);
key_fn!(A1, A2, A3, A4, A5);
key_fn!(A1, A2, A3, A4, A5, A6);
key_fn!(A1, A2, A3, A4, A5, A6, A7);
key_fn!(A1, A2, A3, A4, A5, A6, A7, A8);
key_fn!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
key_fn!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
key_fn!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
key_fn!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);
