//! The concurrency primitives the engine's shared state is built from, in one place, so that
//! the model tests can swap them (quick_cache's shim): a normal build uses `parking_lot`'s
//! locks and `std`'s atomics; a build with `RUSTFLAGS="--cfg memocache_shuttle"` uses
//! `shuttle`'s (and `runtime.rs` spawns with `shuttle`), whose scheduler then explores the
//! interleavings of the real flight table, memory shards and flight tasks
//! (`tests/model.rs`). Nothing else changes between the two builds.
//!
//! Tokio's `Notify` (a flight's wake-ups) stays Tokio's in both: it is correct under any
//! scheduler (Tokio checks it with loom); what the model explores is how the engine uses it.

#[cfg(not(memocache_shuttle))]
mod imp {
    pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock};
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

#[cfg(memocache_shuttle)]
mod imp {
    use std::sync::PoisonError;

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
}

pub(crate) use imp::*;
