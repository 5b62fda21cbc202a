//! The gate of `invalidate_all` on a cache with tiers: from the moment a clear begins until
//! its tier half has landed, no new flight reads or writes a tier (loads and reads wait for
//! the gate, then look again; writes registered meanwhile send their tier operation after
//! the clear). Without it, a load starting after the memory was cleared could read an old
//! value from a tier not cleared yet and store it again.
//!
//! The gate is checked on the miss path only, under the key's flight-shard lock (one atomic
//! load when no clear is running); a memory hit never looks at it.

use crate::sync::{AtomicBool, Mutex, Ordering};

use super::flight::{Flight, FlightError, FlightState, Kind};

/// The clear in progress, if any.
pub(crate) struct ClearGate<V> {
    /// `true` while `current` holds a gate (the fast check).
    active: AtomicBool,
    /// The latest clear's flight. A later clear waits for the earlier one before clearing, so
    /// when the latest lands, every earlier one has.
    current: Mutex<Option<Flight<V>>>,
}

impl<V: Clone> ClearGate<V> {
    pub(crate) fn new() -> Self {
        ClearGate {
            active: AtomicBool::new(false),
            current: Mutex::new(None),
        }
    }

    /// The clear a new tier operation must wait for, if one is running. Call under the key's
    /// flight-shard lock: a clear that began before that shard was visited is seen.
    #[inline]
    pub(crate) fn active(&self) -> Option<Flight<V>> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        self.current.lock().clone()
    }

    /// Opens a new clear; returns its flight and the clear it must wait for.
    pub(crate) fn begin(&self) -> (Flight<V>, Option<Flight<V>>) {
        let gate = FlightState::without_loader(Kind::Clear);
        let mut current = self.current.lock();
        let previous = current.replace(gate.clone());
        self.active.store(true, Ordering::SeqCst);
        (gate, previous)
    }

    /// Closes `gate` (its tier half is done): if no later clear began, the gate is open.
    pub(crate) fn end(&self, gate: &Flight<V>) {
        let mut current = self.current.lock();
        if current
            .as_ref()
            .is_some_and(|c| std::sync::Arc::ptr_eq(c, gate))
        {
            *current = None;
            self.active.store(false, Ordering::Release);
        }
    }
}

/// The task of one clear's tier half: waits for the flights it must follow, clears every
/// tier's namespace, then opens the gate. Dropped unfinished (its runtime shut down), it
/// still opens the gate, so no miss waits forever.
pub(crate) struct ClearGuard<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared: std::sync::Arc<crate::shared::Shared<K, V>>,
    gate: Flight<V>,
    done: bool,
    /// Counts the clear as running until it is dropped.
    _running: crate::shared::RunningGuard,
}

impl<K, V> ClearGuard<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        shared: std::sync::Arc<crate::shared::Shared<K, V>>,
        gate: Flight<V>,
    ) -> Self {
        let running = shared.running.start();
        ClearGuard {
            shared,
            gate,
            done: false,
            _running: running,
        }
    }

    /// Waits for `after` to settle, clears the tiers, opens the gate.
    pub(crate) async fn run(mut self, after: Vec<Flight<V>>) {
        for flight in after {
            flight.settled().await;
        }
        let cleared = match &self.shared.tiers {
            Some(tiers) => tiers.clear().await,
            None => Ok(()),
        };
        // The other instances of a distributed cache clear their memory.
        crate::coord::hooks::publish_all(&self.shared).await;
        self.open(Err(match cleared {
            Ok(()) => FlightError::Absent,
            Err(e) => FlightError::Storage(e),
        }));
    }

    fn open(&mut self, outcome: super::flight::Outcome<V>) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.clearing.end(&self.gate);
            self.gate.land(outcome);
        }
    }
}

impl<K, V> Drop for ClearGuard<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        self.open(Err(FlightError::Cancelled));
    }
}
