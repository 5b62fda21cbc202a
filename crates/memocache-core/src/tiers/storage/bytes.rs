//! [`ByteStore`]: bytes under string keys with a time to live — what a remote server
//! provides, before [`Serialized`](super::Serialized) makes it a typed storage.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::StorageError;

/// An async store of bytes under string keys with a time to live: what a remote server
/// (Redis, SQL, files) provides. [`Serialized`](super::Serialized) turns one into a typed
/// [`Storage`](super::Storage).
pub trait ByteStore: Send + Sync + 'static {
    /// A short name for logs and statistics.
    fn name(&self) -> &str;

    /// The bytes under `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>>;

    /// The bytes under `key` if there are at most `limit` of them; more is
    /// [`DecodeError::TooLarge`](crate::codec::DecodeError::TooLarge) (`size` at least
    /// `limit + 1`). [`Serialized`](super::Serialized) reads with its codec's size limit.
    ///
    /// The default reads the whole value with [`get`](Self::get), then checks; a backend that
    /// can read a prefix (Redis `GETRANGE`) overrides it, so that a huge record is refused
    /// without being downloaded.
    fn get_bounded<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        Box::pin(async move {
            match self.get(key).await? {
                Some(bytes) if bytes.len() > limit => Err(too_large(bytes.len(), limit)),
                found => Ok(found),
            }
        })
    }

    /// The bytes under each key, in order.
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>>;

    /// Stores `bytes` under `key` for `ttl` (at least one millisecond).
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Stores every `(key, bytes, ttl)`.
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Removes `key`.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Removes every key that starts with `prefix`.
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// The error of a value over a read's size limit.
pub(crate) fn too_large(size: usize, limit: usize) -> StorageError {
    StorageError::Decode(crate::codec::DecodeError::TooLarge { size, limit })
}

impl<B: ByteStore + ?Sized> ByteStore for Arc<B> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        (**self).get(key)
    }
    fn get_bounded<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        (**self).get_bounded(key, limit)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        (**self).get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).set(key, bytes, ttl)
    }
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        (**self).set_many(items)
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).remove(key)
    }
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).clear_prefix(prefix)
    }
}
