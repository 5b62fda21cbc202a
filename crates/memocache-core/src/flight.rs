//! The in-flight table: at most one load per key at a time (single flight).
//!
//! A load runs in its own (detached) Tokio task, which leaves its outcome in the
//! [`FlightState`] it shares with its waiters and wakes every caller waiting for that key; dropping a waiter therefore never
//! cancels the load, and a task that ends without an outcome (a panic, its runtime shutting
//! down) still lands an error ([`LandOnDrop`]). The table is sharded by the key's hash; a
//! load's task removes its own entry, under the shard's lock and in the same critical section
//! in which it stores the value, so a request that finds no flight always finds the value (see
//! [`crate::cache`]).
//!
//! Different calls for one key may use different loader error types; a flight remembers the
//! [`TypeId`] of its error type, and a waiter whose type differs waits for the flight to end and
//! then looks again (it never runs a second load while the first is in flight).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::pin::pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::error::Error;
use crate::storage::StorageError;

type Hasher = foldhash::fast::RandomState;

/// Why a flight produced no value, with the loader's error type erased.
#[derive(Clone)]
pub(crate) enum FlightError {
    Load(Arc<dyn Any + Send + Sync>),
    Timeout(Duration),
    Panicked(Arc<str>),
    Cancelled,
    Storage(StorageError),
}

impl FlightError {
    /// The typed error for a waiter whose loader error type is `E`; `None` when the flight's
    /// loader had another error type.
    pub(crate) fn into_error<E: Send + Sync + 'static>(self) -> Option<Error<E>> {
        Some(match self {
            FlightError::Load(any) => Error::Load(any.downcast::<E>().ok()?),
            FlightError::Timeout(d) => Error::Timeout(d),
            FlightError::Panicked(m) => Error::Panicked(m),
            FlightError::Cancelled => Error::Cancelled,
            FlightError::Storage(e) => Error::Storage(e),
        })
    }
}

/// What a flight resolves to.
pub(crate) type Outcome<V> = Result<V, FlightError>;

/// One load in flight, shared by its task and its waiters: what the task needs to know at
/// completion, and where it leaves its outcome, once, for every waiter.
///
/// A waiter registers for the wake-up before it looks for the outcome, so an outcome landed
/// between the two is never missed.
pub(crate) struct FlightState<V> {
    /// Cleared by `invalidate`, `invalidate_all` and `insert`: the outcome is handed to the
    /// waiters but not stored.
    pub(crate) store: AtomicBool,
    /// The loader's error type.
    pub(crate) error_type: TypeId,
    outcome: OnceLock<Outcome<V>>,
    landed: Notify,
}

/// A handle on one load in flight.
pub(crate) type Flight<V> = Arc<FlightState<V>>;

impl<V: Clone> FlightState<V> {
    /// A flight whose loader fails with `error_type`.
    pub(crate) fn new(error_type: TypeId) -> Self {
        FlightState {
            store: AtomicBool::new(true),
            error_type,
            outcome: OnceLock::new(),
            landed: Notify::new(),
        }
    }

    /// Leaves `outcome` (the first one landed stays) and wakes every waiter.
    pub(crate) fn land(&self, outcome: Outcome<V>) {
        let _ = self.outcome.set(outcome);
        self.landed.notify_waiters();
    }

    /// The outcome, once landed.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops this waiter waiting.
    pub(crate) async fn wait(&self) -> Outcome<V> {
        loop {
            let notified = self.landed.notified();
            let mut notified = pin!(notified);
            // Registered from here on: a `land` after the check below still wakes us.
            notified.as_mut().enable();
            if let Some(outcome) = self.outcome.get() {
                return outcome.clone();
            }
            notified.await;
        }
    }
}

/// Owned by a flight's task: lands its outcome, or, if the task is dropped before it has one
/// (its runtime shut down), lands [`FlightError::Cancelled`] so that no waiter waits forever.
pub(crate) struct LandOnDrop<V: Clone>(pub(crate) Option<Flight<V>>);

impl<V: Clone> LandOnDrop<V> {
    pub(crate) fn land(mut self, outcome: Outcome<V>) {
        if let Some(flight) = self.0.take() {
            flight.land(outcome);
        }
    }
}

impl<V: Clone> Drop for LandOnDrop<V> {
    fn drop(&mut self) {
        if let Some(flight) = self.0.take() {
            flight.land(Err(FlightError::Cancelled));
        }
    }
}

pub(crate) type Table<K, V> = HashMap<K, Flight<V>, Hasher>;
type Shard<K, V> = CachePadded<Mutex<Table<K, V>>>;

/// The sharded in-flight table.
pub(crate) struct Flights<K, V> {
    shards: Box<[Shard<K, V>]>,
    bits: u32,
}

const BITS: u32 = 5;

impl<K: Hash + Eq, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        let hasher = Hasher::default();
        Flights {
            shards: (0..1usize << BITS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::with_hasher(hasher))))
                .collect(),
            bits: BITS,
        }
    }

    /// Locks the shard of a key with this hash (the store's hash of the key).
    #[inline]
    pub(crate) fn lock(&self, hash: u64) -> MutexGuard<'_, Table<K, V>> {
        // Low bits here, high bits in the store: the two shardings stay independent.
        self.shards[(hash as usize) & ((1 << self.bits) - 1)].lock()
    }

    /// Visits every shard under its lock, one after another.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut Table<K, V>)) {
        for shard in self.shards.iter() {
            f(&mut shard.lock());
        }
    }

    /// Flights in progress (for tests and `Debug`).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// The text of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("(non-string panic payload)")
    }
}
