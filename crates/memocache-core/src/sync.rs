//! The concurrency primitives the engine's shared state is built from, in one place, so that
//! the model tests can swap them (quick_cache's shim): a normal build uses `parking_lot`'s
//! locks, `std`'s atomics and Tokio's `spawn` and `timeout`; a build with
//! `RUSTFLAGS="--cfg memocache_shuttle"` uses `shuttle`'s, whose scheduler then explores the
//! interleavings of the real flight table, memory shards and flight tasks
//! (`tests/model.rs`). Nothing else changes between the two builds.
//!
//! Tokio's `Notify` (a flight's wake-ups) stays Tokio's in both: it is correct under any
//! scheduler (Tokio checks it with loom); what the model explores is how the engine uses it.

#[cfg(not(memocache_shuttle))]
mod imp {
    use std::future::Future;
    use std::time::Duration;

    pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock};
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

    /// Runs `task` on its own, detached (Tokio's `spawn`).
    ///
    /// # Panics
    /// Outside a Tokio runtime, as `tokio::spawn` does.
    #[inline]
    pub(crate) fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(task));
    }

    /// `future`'s output, or `Err` once `limit` has passed (Tokio's `timeout`).
    #[inline]
    pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Result<F::Output, ()> {
        tokio::time::timeout(limit, future).await.map_err(drop)
    }
}

#[cfg(memocache_shuttle)]
mod imp {
    use std::future::Future;
    use std::sync::PoisonError;
    use std::time::Duration;

    pub(crate) use shuttle::sync::atomic::{
        AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use shuttle::sync::MutexGuard;
    use shuttle::sync::{RwLockReadGuard, RwLockWriteGuard};

    /// `shuttle`'s mutex with `parking_lot`'s interface (no poisoning).
    #[derive(Default)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    /// `shuttle`'s reader-writer lock with `parking_lot`'s interface (no poisoning).
    pub(crate) struct RwLock<T>(shuttle::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(shuttle::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
            self.0.try_write().ok()
        }
    }

    /// Runs `task` as a `shuttle` task, detached.
    pub(crate) fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(shuttle::future::spawn(task));
    }

    /// `future`'s output: the model has no clock, so nothing times out.
    pub(crate) async fn timeout<F: Future>(_limit: Duration, future: F) -> Result<F::Output, ()> {
        Ok(future.await)
    }
}

pub(crate) use imp::*;
