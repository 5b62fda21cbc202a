//! The in-flight table: which operation owns each key right now, and the flights themselves.
//!
//! A *flight* is one operation on a key that runs on its own — in a detached task, or for a
//! miss's load in the request that started it until that request is dropped
//! (see [`inline`](super::inline)) — and that other callers may wait for: a load, a background refresh, a tier read for `get`, or the tier half
//! of an `insert` / `invalidate` (see [`Kind`]). The table, sharded by the key's hash, maps a
//! key to the one flight that *owns* it. Ownership is the consistency rule of the whole
//! cache: a flight writes memory or a tier only while it owns its key, checked under the
//! key's shard lock, and `insert`, `invalidate` and `invalidate_all` take keys over
//! (displace their flights). A displaced flight still lands its outcome for the callers
//! already waiting on it, but writes nothing.
//!
//! A flight's task leaves its outcome in the [`FlightState`] it shares with its waiters and
//! wakes them; dropping a waiter (or the request running the load) never cancels the task.
//!
//! Different calls for one key may use different loader error types; a flight remembers the
//! [`TypeId`] of its error type, and a waiter whose type differs waits for the flight to end
//! and then looks again (it never runs a second load while the first is in flight).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::sync::Notify;

use crate::error::Error;
use crate::storage::StorageError;
use crate::sync::{AtomicBool, Mutex, MutexGuard, Ordering::SeqCst};

type Hasher = foldhash::fast::RandomState;

/// What a flight does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A miss's load: tiers, then the loader. Callers wait for it.
    Load,
    /// A stale hit's background refresh: tiers, then the loader. Nobody waits unless the
    /// entry expires meanwhile.
    Refresh,
    /// `get`'s read of the tiers (no loader).
    Read,
    /// The tier half of an `insert` or `invalidate`. Lands no value: its waiters look again.
    Write,
    /// An `invalidate_all`'s gate (see [`clear`](super::clear)): no task, no key; it lands
    /// when the tiers are cleared.
    Clear,
}

impl Kind {
    /// The kind's name in tracing spans.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Load => "load",
            Kind::Refresh => "refresh",
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Clear => "clear",
        }
    }

    /// Whether a waiter that joins this flight was served by another request's work
    /// (`Stats::coalesced`).
    pub(crate) fn serves_waiters(self) -> bool {
        !matches!(self, Kind::Write | Kind::Clear)
    }
}

/// The error type of flights without a loader (reads and writes): never a waiter's.
struct NoLoader;

/// Why a flight produced no value, with the loader's error type erased.
#[derive(Clone)]
pub(crate) enum FlightError {
    Load(Arc<dyn Any + Send + Sync>),
    Timeout(Duration),
    Panicked(Arc<str>),
    Cancelled,
    Storage(StorageError),
    /// No value, and none expected: a write, or a read that found nothing. Waiters look again.
    Absent,
    /// A batch loader returned no value for the key.
    NotLoaded,
}

impl FlightError {
    /// The typed error for a waiter whose loader error type is `E`; `None` when the flight's
    /// loader had another error type, or when there is no error to hand out ([`Absent`]).
    ///
    /// [`Absent`]: FlightError::Absent
    pub(crate) fn into_error<E: Send + Sync + 'static>(self) -> Option<Error<E>> {
        Some(match self {
            FlightError::Load(any) => Error::Load(any.downcast::<E>().ok()?),
            FlightError::Timeout(d) => Error::Timeout(d),
            FlightError::Panicked(m) => Error::Panicked(m),
            FlightError::Cancelled => Error::Cancelled,
            FlightError::Storage(e) => Error::Storage(e),
            FlightError::NotLoaded => Error::NotLoaded,
            FlightError::Absent => return None,
        })
    }

    /// How the flight failed, in a few words for logs.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            FlightError::Load(_) => "returned an error",
            FlightError::Timeout(_) => "timed out",
            FlightError::Panicked(_) => "panicked",
            FlightError::Cancelled => "was cancelled",
            FlightError::Storage(_) => "failed in a storage tier",
            FlightError::Absent => "found nothing",
            FlightError::NotLoaded => "was not returned by the batch loader",
        }
    }
}

/// What a flight resolves to.
pub(crate) type Outcome<V> = Result<V, FlightError>;

/// One flight, shared by its task and its waiters: where the task leaves its outcome, once,
/// for every waiter.
///
/// A waiter registers for the wake-up before it looks for the outcome, so an outcome landed
/// between the two is never missed.
pub(crate) struct FlightState<V> {
    pub(crate) kind: Kind,
    /// A refresh `Cache::refresh` started: it calls its loader without reading the tiers, so
    /// another `Cache::refresh` may take its outcome as its own (a stale hit's refresh, which
    /// may be answered by a tier, may not).
    pub(crate) forced: bool,
    /// The loader's error type (`NoLoader` for reads and writes).
    error_type: TypeId,
    /// `true` from just before the flight writes a tier (set under the key's shard lock, only
    /// while the flight owns its key) until that write is over: whoever displaces it waits
    /// for the write to end ([`settled`](Self::settled)) before touching the tiers, so tier
    /// writes of one key leave this process in the order they were decided.
    writing: AtomicBool,
    /// Woken when `writing` goes back to `false`.
    written: Notify,
    /// What this flight waits for before its own tier write (a write's `after`: writing
    /// flights it displaced, a clear in progress); inherited by whoever displaces it before
    /// it writes.
    follows: Vec<Flight<V>>,
    outcome: OnceLock<Outcome<V>>,
    landed: Notify,
}

/// A handle on one flight.
pub(crate) type Flight<V> = Arc<FlightState<V>>;

impl<V: Clone> FlightState<V> {
    /// A flight of `kind` whose loader fails with `E`.
    pub(crate) fn new<E: 'static>(kind: Kind) -> Flight<V> {
        Self::with_type(kind, TypeId::of::<E>())
    }

    /// A flight without a loader (a read, or a clear's gate).
    pub(crate) fn without_loader(kind: Kind) -> Flight<V> {
        Self::with_type(kind, TypeId::of::<NoLoader>())
    }

    /// The flight of a write's tier half, which sends its operation once every flight of
    /// `follows` has settled.
    pub(crate) fn write(follows: Vec<Flight<V>>) -> Flight<V> {
        Self::build(Kind::Write, TypeId::of::<NoLoader>(), follows)
    }

    /// A refresh started by `Cache::refresh`, whose loader fails with `E`.
    pub(crate) fn forced<E: 'static>() -> Flight<V> {
        let mut flight = Self::build(Kind::Refresh, TypeId::of::<E>(), Vec::new());
        Arc::get_mut(&mut flight).expect("not shared yet").forced = true;
        flight
    }

    fn with_type(kind: Kind, error_type: TypeId) -> Flight<V> {
        Self::build(kind, error_type, Vec::new())
    }

    fn build(kind: Kind, error_type: TypeId, follows: Vec<Flight<V>>) -> Flight<V> {
        Arc::new(FlightState {
            kind,
            forced: false,
            error_type,
            writing: AtomicBool::new(false),
            written: Notify::new(),
            follows,
            outcome: OnceLock::new(),
            landed: Notify::new(),
        })
    }

    /// What this flight waits for before its own tier write.
    pub(crate) fn follows(&self) -> &[Flight<V>] {
        &self.follows
    }

    /// The loader's error type.
    pub(crate) fn error_type(&self) -> TypeId {
        self.error_type
    }

    /// Whether a waiter whose loader fails with `E` can take this flight's error as its own.
    pub(crate) fn fails_with<E: 'static>(&self) -> bool {
        self.error_type == TypeId::of::<E>()
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
        // Landed already (the leader of an inline load, a late joiner): no registration.
        if let Some(outcome) = self.outcome.get() {
            return outcome.clone();
        }
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

    /// Marks the flight as writing a tier (the caller holds the key's shard lock and has
    /// checked that the flight owns the key).
    pub(crate) fn begin_writing(&self) {
        self.writing.store(true, SeqCst);
    }

    /// The tier write is over: wakes whoever waits for it to settle.
    pub(crate) fn end_writing(&self) {
        if self.writing.swap(false, SeqCst) {
            self.written.notify_waiters();
        }
    }

    /// Whether the flight is writing a tier (read under the key's shard lock).
    pub(crate) fn is_writing(&self) -> bool {
        self.writing.load(SeqCst)
    }

    /// What must settle before whoever displaces this flight writes the same key's tiers:
    /// the flight itself while it is writing; otherwise what it was itself going to wait for
    /// (it will not write any more: it no longer owns its key).
    pub(crate) fn must_follow(self: &Arc<Self>) -> Vec<Flight<V>> {
        if self.is_writing() {
            vec![Arc::clone(self)]
        } else {
            self.follows.clone()
        }
    }

    /// Waits until this flight no longer holds back a tier write: a clear's gate until it
    /// lands, any other flight until its tier write in progress (if any) is over.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops this waiter waiting.
    pub(crate) async fn settled(&self) {
        if self.kind == Kind::Clear {
            let _ = self.wait().await;
            return;
        }
        loop {
            let written = self.written.notified();
            let mut written = pin!(written);
            written.as_mut().enable();
            if !self.is_writing() {
                return;
            }
            written.await;
        }
    }
}

/// One shard of the table: key → the flight that owns it.
pub(crate) type Table<K, V> = HashMap<K, Flight<V>, Hasher>;
type Shard<K, V> = CachePadded<Mutex<Table<K, V>>>;

/// `true` when `flight` owns `key` in `table`.
pub(crate) fn owns<K: Hash + Eq, V>(table: &Table<K, V>, key: &K, flight: &Flight<V>) -> bool {
    table.get(key).is_some_and(|f| Arc::ptr_eq(f, flight))
}

/// Takes `key` away from the flight that owns it, if any; returns what must settle before
/// the caller writes the same key's tiers ([`FlightState::must_follow`]).
pub(crate) fn displace<K, V, Q>(table: &mut Table<K, V>, key: &Q) -> Vec<Flight<V>>
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    V: Clone,
    Q: Hash + Eq + ?Sized,
{
    table
        .remove(key)
        .map(|f| f.must_follow())
        .unwrap_or_default()
}

/// The sharded in-flight table.
pub(crate) struct Flights<K, V> {
    shards: Box<[Shard<K, V>]>,
}

const BITS: u32 = 5;

impl<K: Hash + Eq, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        let hasher = Hasher::default();
        Flights {
            shards: (0..1usize << BITS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::with_hasher(hasher))))
                .collect(),
        }
    }

    /// Locks the shard of a key with this hash (the memory's hash of the key).
    #[inline]
    pub(crate) fn lock(&self, hash: u64) -> MutexGuard<'_, Table<K, V>> {
        // Low bits here, high bits in the memory: the two shardings stay independent.
        self.shards[(hash as usize) & ((1 << BITS) - 1)].lock()
    }

    /// Visits every shard under its lock, one after another.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut Table<K, V>)) {
        for shard in self.shards.iter() {
            f(&mut shard.lock());
        }
    }
}
