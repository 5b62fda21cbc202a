//! One flight's task from start to finish ([`Task`]): its steps, and the guard that ends it;
//! [`lease`] holds the cross-process step of a distributed cache's load. The steps run as a
//! spawned task, or for a miss's load in the request that started it
//! ([`lead_load`](Task::lead_load)); either way they are the same future.
//!
//! A load or refresh runs the steps in order, each a method:
//! 1. [`read_tiers`](Task::read_tiers): the tiers below the memory, in order, with backfill
//!    of the tiers above the one that answered;
//! 2. [`call`](Task::call): the loader, under the method timeout, panics caught;
//! 3. [`write_tiers`](Task::write_tiers): the value to every tier, once;
//! 4. [`finish`](Task::finish): under the key's flight-shard lock, store the value in memory
//!    if the flight still owns the key, and retire the flight; then record the outcome in the
//!    statistics (the one place that does) and land it for the waiters.
//!
//! A `get`'s tier read is steps 1 and 4; a write's tier half is its tier operation and step 4.
//! Every write (memory or tier) first checks, under the lock, that the flight still owns its
//! key (see [`flight`](super::flight)). If the task ends any other way — a panic in the
//! engine, or the runtime dropping it — the guard ([`Drop`]) finishes it with
//! [`FlightError::Cancelled`], so no key stays owned by a dead flight and no waiter waits
//! forever.

mod lease;
mod tiers;

pub(crate) use tiers::TierRead;

use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::flight::{owns, Flight, FlightError, Kind, Outcome, Table};
use super::inline::Inline;
use crate::error::panic_message;
use crate::shared::{Expiry, Prepared, RunningGuard, Shared};
use crate::storage::StoredEntry;
use crate::tiers::{Tagged, Unavailable};
use lease::Leased;

/// What the tier half of a write sends.
pub(crate) enum TierOp<V> {
    /// Write this entry to every tier.
    Set(StoredEntry<V>),
    /// Remove the key from every tier.
    Remove,
}

/// `$task`'s steps (an expression using `&mut $task`) as one `Send + 'static` future: a panic
/// in them lands [`FlightError::Panicked`]; the future dropped unfinished lands
/// [`FlightError::Cancelled`] (the guard). Polled under `$span`.
macro_rules! steps {
    ($task:ident, $span:expr, |$t:ident| $steps:expr) => {{
        let span: tracing::Span = $span;
        let mut $t = $task;
        tracing::Instrument::instrument(
            async move {
                let run = AssertUnwindSafe(async { $steps.await }).catch_unwind();
                if let Err(panic) = run.await {
                    let message = panic_message(&*panic);
                    $t.finish(Landing::Failed(FlightError::Panicked(message)));
                }
            },
            span,
        )
    }};
}

/// Spawns `$task`'s steps ([`steps!`]) as a detached task (see `runtime.rs`): no waiter's
/// drop cancels it.
macro_rules! spawn {
    ($task:ident, |$t:ident| $steps:expr) => {
        crate::runtime::spawn(steps!($task, $task.span.clone(), |$t| $steps))
    };
}

/// How a task ends.
pub(crate) enum Landing<V> {
    /// The loader's value, with the lifespan and weight the user's callbacks gave it if they
    /// ran already (for the tiers); else they run in [`Task::finish`], only if it stores.
    Loaded(V, Option<Prepared>),
    /// An entry a tier had, and its weight in memory (`None`: the weigher panicked, so it is
    /// served but not stored).
    FromTier(StoredEntry<V>, Option<u32>),
    /// No value: a write, or a read that found nothing.
    Absent,
    /// An error for every waiter.
    Failed(FlightError),
}

/// A key's tags, as a task knows them.
enum Tags {
    /// Not computed yet.
    Unknown,
    /// The key's tags, and the stamps the flight's tier reads made.
    Known(Tagged),
    /// The tag function panicked (counted and logged): the tiers cannot check or stamp this
    /// key's entries, so the task reads nothing from them and writes nothing to them.
    Failed,
}

/// The task of one flight: owns its key (while the table says so) until it lands.
pub(crate) struct Task<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared: Arc<Shared<K, V>>,
    hash: u64,
    key: K,
    flight: Flight<V>,
    /// The loader ran (the outcome counts as a load's or a refresh's).
    loader_ran: bool,
    /// Tiers that failed this flight's read: its writes skip them.
    unavailable: Unavailable,
    /// The key's tags, computed once when the task starts (outside every lock).
    tags: Tags,
    landed: bool,
    /// The flight's `memocache.flight` span (debug level): its cache, kind and key hash —
    /// never the key or the value —, and once it lands its outcome and duration.
    span: tracing::Span,
    started: Instant,
    /// Counts the task as running until it is dropped (last, after `Drop::drop` landed it).
    _running: RunningGuard,
}

impl<K, V> Task<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Makes `flight` the owner of `key` in `table` (whose lock the caller holds) and returns
    /// its task, to be spawned with [`spawn`](Self::spawn).
    pub(crate) fn register(
        shared: &Arc<Shared<K, V>>,
        table: &mut Table<K, V>,
        hash: u64,
        key: K,
        flight: Flight<V>,
    ) -> Self {
        if flight.kind == Kind::Refresh {
            shared.stats.add(|c| &c.refreshes_started, 1);
        }
        table.insert(key.clone(), Arc::clone(&flight));
        let running = shared.running.start();
        // No subscriber takes debug spans: none is made (with `tracing`'s `log` feature even
        // a disabled span costs a log call).
        let span = if tracing::level_enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!(
                "memocache.flight",
                cache = shared.name(),
                kind = flight.kind.name(),
                key_hash = %format_args!("{hash:016x}"),
                outcome = tracing::field::Empty,
                elapsed_us = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        Task {
            span,
            started: Instant::now(),
            shared: Arc::clone(shared),
            hash,
            key,
            flight,
            loader_ran: false,
            unavailable: Unavailable::default(),
            tags: Tags::Unknown,
            landed: false,
            _running: running,
        }
    }

    /// Runs a load or a refresh ([`load`](Self::load)) in its own task.
    pub(crate) fn spawn_load<F, Fut, E>(self, loader: F, tier_read: TierRead)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        spawn!(self, |task| task.load(loader, tier_read));
    }

    /// A load or refresh ([`load`](Self::load)) started by a request: where the load may run
    /// inline ([`leader`](super::leader)), kept for that request to await and handed to a task
    /// on the runtime it started in if the request is dropped first (see [`Inline`]); else
    /// spawned at once. Called once the flight is registered and its lock released.
    pub(crate) fn lead_load<F, Fut, E>(self, loader: F, tier_read: TierRead) -> Option<Inline>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let Some(spawner) = super::leader(&self.shared) else {
            self.spawn_load(loader, tier_read);
            return None;
        };
        // Without an enabled flight span (no subscriber takes debug spans), the steps run in
        // the span of the request that leads them, also after a handoff.
        let span = if self.span.is_disabled() {
            tracing::Span::current()
        } else {
            self.span.clone()
        };
        let run = steps!(self, span, |task| task.load(loader, tier_read));
        Some(Inline::new(Box::pin(run), spawner))
    }

    /// Runs a `get`'s tier read ([`read`](Self::read)) in its own task.
    pub(crate) fn spawn_read(self) {
        spawn!(self, |task| task.read());
    }

    /// Runs the tier half of a write ([`write`](Self::write)) in its own task.
    pub(crate) fn spawn_write(self, op: TierOp<V>) {
        spawn!(self, |task| task.write(op));
    }

    /// A load or refresh: the tiers (as `tier_read` says), then the loader, then the tiers
    /// again, then memory. A stale entry found below ends a load at once (its waiters get it)
    /// and starts a refresh with the loader; a refresh that finds one loads anyway, and an
    /// early refresh takes only an entry newer than its own.
    async fn load<F, Fut, E>(&mut self, loader: F, tier_read: TierRead)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.compute_tags();
        // The tier, lease and keep-alive steps are boxed, and only where they run: a memory
        // cache's load future (kept whole for every load in flight) is then a few hundred
        // bytes instead of kilobytes.
        if tier_read != TierRead::Skip && self.shared.tiers.is_some() {
            match Box::pin(self.read_tiers_as(tier_read)).await {
                Ok(Some(entry)) => {
                    let fresh = entry.is_fresh(SystemTime::now());
                    if fresh || self.kind() == Kind::Load {
                        let weight = self.weigh(&entry.value);
                        let owned = self.finish(Landing::FromTier(entry, weight));
                        if !fresh && owned {
                            let key = self.key.clone();
                            let of = super::RefreshOf::StaleInTier;
                            super::refresh(&self.shared, self.hash, key, loader, of);
                        }
                        return;
                    }
                }
                Ok(None) => {}
                // An early refresh's read is optional: a failed one just loads.
                Err(_) if matches!(tier_read, TierRead::NewerThan(_)) => {}
                Err(e) => {
                    self.finish(Landing::Failed(FlightError::Storage(e)));
                    return;
                }
            }
        }
        let leased = match self.shared.distributed {
            Some(_) => Box::pin(self.lease()).await,
            None => Leased::Local,
        };
        let held = match leased {
            Leased::Local => None,
            #[cfg(feature = "json")]
            Leased::Holder(held) => Some(held),
            Leased::Served(entry) => {
                let weight = self.weigh(&entry.value);
                self.finish(Landing::FromTier(entry, weight));
                return;
            }
            Leased::TimedOut(limit) => {
                self.finish(Landing::Failed(FlightError::Timeout(limit)));
                return;
            }
        };
        #[cfg(feature = "json")]
        let called = match &held {
            Some(held) => {
                use futures_util::future::{select, Either};
                let (call, keep) = (self.call(loader), held.keep_alive());
                match select(std::pin::pin!(call), Box::pin(keep)).await {
                    Either::Left((called, _)) => called,
                    Either::Right(((), _)) => unreachable!("keep_alive never ends"),
                }
            }
            None => self.call(loader).await,
        };
        #[cfg(not(feature = "json"))]
        let called = self.call(loader).await;
        let landing = match called {
            Ok(value) if self.shared.tiers.is_some() => {
                match Box::pin(self.write_tiers(&value)).await {
                    Ok(prepared) => Landing::Loaded(value, prepared),
                    Err(e) => Landing::Failed(e),
                }
            }
            // No tiers: the user's callbacks run in `finish`, only if the value is stored.
            Ok(value) => Landing::Loaded(value, None),
            Err(e) => Landing::Failed(e),
        };
        // The value is in the tiers: the other processes' waiting loads read it now.
        #[cfg(feature = "json")]
        if let Some(held) = held {
            Box::pin(held.release()).await;
        }
        #[cfg(not(feature = "json"))]
        let _: Option<()> = held;
        self.finish(landing);
    }

    /// A `get`'s read: the tiers, then memory. Tier errors are misses here.
    async fn read(&mut self) {
        self.compute_tags();
        let landing = match self.read_tiers().await {
            Ok(Some(entry)) => {
                let weight = self.weigh(&entry.value);
                Landing::FromTier(entry, weight)
            }
            Ok(None) | Err(_) => Landing::Absent,
        };
        self.finish(landing);
    }

    /// The tier half of a write: once the flights it follows have settled (the tier writes it
    /// displaced, a clear in progress), sends `op` if the flight still owns its key. A
    /// failure lands as the flight's error (a removal's always; a write's under
    /// [`OnError::Propagate`](crate::tier::OnError::Propagate)), for the caller to report.
    async fn write(&mut self, op: TierOp<V>) {
        self.compute_tags();
        for flight in self.flight.follows().to_vec() {
            flight.settled().await;
        }
        let mut landing = Landing::Absent;
        if let Some(tiers) = &self.shared.tiers {
            let key = &self.key;
            let done = match op {
                TierOp::Set(entry) => match self.tagged() {
                    Ok(tagged) => {
                        let all = Unavailable::default();
                        self.tier_write(tiers.write(key, &entry, tagged, all)).await
                    }
                    // The entry cannot be stamped: the old one goes instead.
                    Err(()) => self.tier_write(tiers.remove(key)).await,
                },
                TierOp::Remove => self.tier_write(tiers.remove(key)).await,
            };
            if let Some(Err(e)) = done {
                landing = Landing::Failed(FlightError::Storage(e));
            }
            // The other instances of a distributed cache drop their copies.
            crate::coord::hooks::publish_key(&self.shared, &self.key).await;
        }
        self.finish(landing);
    }

    /// The memory weight of a value read from a tier; `None` if the weigher panicked (counted
    /// and logged: the value is served, not stored).
    pub(crate) fn weigh(&self, value: &V) -> Option<u32> {
        match self.shared.weigh(&self.key, value) {
            Ok(weight) => Some(weight),
            Err(message) => {
                let then = "the value is served, not stored";
                self.shared.callback_panicked("weigher", then, &message);
                None
            }
        }
    }

    fn kind(&self) -> Kind {
        self.flight.kind
    }

    /// `false` once the task has landed.
    pub(crate) fn is_open(&self) -> bool {
        !self.landed
    }

    /// The key this task owns.
    pub(crate) fn key(&self) -> &K {
        &self.key
    }

    /// The tiers this flight found unavailable.
    pub(crate) fn unavailable(&self) -> Unavailable {
        self.unavailable
    }

    /// A batch called the loader for this key: its outcome counts as a load's.
    pub(crate) fn count_load(&mut self) {
        if self.kind() == Kind::Load {
            self.shared.stats.add(|c| &c.loads_started, 1);
        }
        self.loader_ran = true;
    }

    /// Step 2: runs `loader` under the method timeout, catching panics.
    pub(crate) async fn call<F, Fut, E>(&mut self, loader: F) -> Outcome<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        let stats = &self.shared.stats;
        if self.kind() == Kind::Load {
            stats.add(|c| &c.loads_started, 1);
        }
        self.loader_ran = true;
        let timeout = self.shared.config.method_timeout;
        let start = Instant::now();
        let load = AssertUnwindSafe(async move { loader().await }).catch_unwind();
        let outcome = match crate::runtime::timeout(timeout, load).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(FlightError::Load(Arc::new(e))),
            Ok(Err(panic)) => Err(FlightError::Panicked(panic_message(&*panic))),
            Err(_) => Err(FlightError::Timeout(timeout)),
        };
        let took = start.elapsed();
        stats.add(|c| &c.load_nanos, took.as_nanos() as u64);
        self.shared.load_time.record(took);
        outcome
    }

    /// Step 4: under the key's flight-shard lock, stores what landed in memory if the flight
    /// still owns its key (a failed refresh sets the entry's backoff instead) and retires the
    /// flight; then records the outcome and lands it. Returns whether the flight still owned
    /// its key. Only the first call does anything.
    pub(crate) fn finish(&mut self, landing: Landing<V>) -> bool {
        if std::mem::replace(&mut self.landed, true) {
            return false;
        }
        // A write cut short (the task dropped or panicking mid-way) is over too.
        self.flight.end_writing();
        let shared = &*self.shared;
        let (outcome, owned, removed) = {
            let mut table = shared.flights.lock(self.hash);
            let owned = owns(&table, &self.key, &self.flight);
            if owned {
                table.remove(&self.key);
            }
            let mut removed = None;
            let outcome = match landing {
                Landing::Loaded(value, prepared) if owned => {
                    // Without tiers the entry builder and weigher run here, under the lock,
                    // and only for a value that is stored.
                    let prepared = prepared.map_or_else(|| shared.prepare(&self.key, &value), Ok);
                    match prepared {
                        Ok(prepared) => {
                            let key = self.key.clone();
                            removed = shared.store(&table, self.hash, key, value.clone(), prepared);
                            Ok(value)
                        }
                        Err(message) => Err(FlightError::Panicked(message)),
                    }
                }
                Landing::Loaded(value, _) => Ok(value),
                Landing::FromTier(entry, weight) => {
                    if let (true, Some(weight)) = (owned, weight) {
                        let (key, value) = (self.key.clone(), entry.value.clone());
                        let expiry = Expiry::of(&entry);
                        removed = shared.store_until(&table, self.hash, key, value, expiry, weight);
                    }
                    Ok(entry.value)
                }
                Landing::Absent => Err(FlightError::Absent),
                Landing::Failed(e) => {
                    if owned && self.kind() == Kind::Refresh {
                        shared.memory.note_refresh_failure(self.hash, &self.key);
                    }
                    if let (true, Kind::Load, FlightError::Load(error), Some(negatives)) =
                        (owned, self.kind(), &e, &shared.negatives)
                    {
                        let error_type = self.flight.error_type();
                        negatives.remember(&self.key, Arc::clone(error), error_type);
                    }
                    Err(e)
                }
            };
            (outcome, owned, removed)
        };
        if let (true, Ok(_), Some(negatives)) = (owned, &outcome, &shared.negatives) {
            negatives.forget(&self.key);
        }
        shared.notify(removed);
        let what = match &outcome {
            Ok(_) => "value",
            Err(e) => e.describe(),
        };
        // Only for a subscriber that enabled the span: recording into a disabled one still
        // costs a clock read, and with `tracing`'s `log` feature a log record each.
        if !self.span.is_disabled() {
            self.span.record("outcome", what);
            let elapsed = self.started.elapsed().as_micros() as u64;
            self.span.record("elapsed_us", elapsed);
        }
        self.record(&outcome);
        self.flight.land(outcome);
        owned
    }

    /// Records how a load or refresh ended: the one place the statistics learn an outcome.
    /// A load counts only if its loader ran (a tier may have answered instead); a refresh
    /// always counts. Timeouts and panics are counted among those failures.
    fn record(&self, outcome: &Outcome<V>) {
        let stats = &self.shared.stats;
        let counts = match self.kind() {
            Kind::Load => self.loader_ran,
            Kind::Refresh => true,
            Kind::Read | Kind::Write | Kind::Clear => false,
        };
        if !counts {
            return;
        }
        let refresh = self.kind() == Kind::Refresh;
        #[cfg(feature = "metrics")]
        crate::cache::metrics::record_load(
            self.shared.config.name.as_ref(),
            self.kind().name(),
            outcome.is_ok(),
            self.started.elapsed(),
        );
        match outcome {
            Ok(_) if refresh => stats.add(|c| &c.refreshes_succeeded, 1),
            Ok(_) => stats.add(|c| &c.load_successes, 1),
            Err(_) if refresh => stats.add(|c| &c.refreshes_failed, 1),
            Err(_) => stats.add(|c| &c.load_failures, 1),
        }
        if let Err(e) = outcome {
            match e {
                FlightError::Timeout(_) => stats.add(|c| &c.timeouts, 1),
                FlightError::Panicked(_) => stats.add(|c| &c.panics, 1),
                _ => {}
            }
            let cache = self.shared.name();
            let what = e.describe();
            if refresh {
                tracing::warn!(
                    cache,
                    "background refresh {what}; the stale value is kept until it expires"
                );
            } else {
                tracing::debug!(cache, "load {what}; nothing stored");
            }
        }
    }
}

impl<K, V> Drop for Task<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The task ends without having landed (its runtime dropped it): the flight is retired
    /// and its waiters get [`FlightError::Cancelled`].
    fn drop(&mut self) {
        self.finish(Landing::Failed(FlightError::Cancelled));
    }
}
