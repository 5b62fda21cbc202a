//! A load run by the request that started it ([`Inline`]): no task per miss while that
//! request is polled, and a task the moment it is dropped, so the load is never cancelled
//! nor restarted by its callers.
//!
//! The request that finds a key missing and starts its flight (the *leader*) awaits the
//! flight's steps itself, instead of spawning them and waiting on the flight's `Notify` like
//! every other caller. The steps are the same boxed future a spawned flight runs (`Send +
//! 'static`, with its panic catch and its tracing span), so what the load does does not
//! depend on who polls it. If the leader is dropped before the steps end — a `select!` that
//! took another branch, a timeout around the call, an aborted task — [`Inline`]'s `Drop`
//! hands the half-run future to a task on the runtime captured when the load started
//! ([`Spawner`]). That task's first poll gives the loader a new waker: a wake-up that went to
//! the dropped leader is not lost, since a future must wake the waker of its latest poll. A
//! runtime that has shut down drops the future at once instead, and the flight's guard lands
//! [`Cancelled`](super::flight::FlightError::Cancelled) for its waiters, as for a spawned
//! task the runtime dropped.
//!
//! Where a load runs inline (`load::leader`): only in a cache without tiers, and at most
//! [`MAX_DEPTH`] loads deep on one thread ([`runs_inline`]).
//! - A leader that stays alive but is never polled again (kept in a `select!` loop that
//!   awaits something else, or leaked) stalls its load, its method timeout and its waiters
//!   until it is polled or dropped. In a cache with tiers it would also hold a tier write
//!   claim, which `insert`, `invalidate`, group invalidations and `invalidate_all` (and with
//!   it every miss of the cache) wait for, and a distributed lease's keep-alive: tiered loads
//!   are spawned. [`CacheBuilder::spawn_loads`](crate::CacheBuilder::spawn_loads) spawns
//!   every load, for callers who park futures.
//! - A loader that misses another key runs that load inside its own poll: a memoized
//!   recursion would nest every level on the thread's stack. Past [`MAX_DEPTH`] nested inline
//!   polls, a new load is spawned, which starts a fresh stack.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

use crate::runtime::Spawner;

/// Inline loads nested in one thread's polls at most; a load started deeper is spawned.
pub(crate) const MAX_DEPTH: u32 = 16;

thread_local! {
    /// Inline loads being polled on this thread, one inside the other.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether this thread is fewer than [`MAX_DEPTH`] inline loads deep, so that a load
/// starting here may run inline (if its cache allows: `load::leader`).
pub(crate) fn runs_inline() -> bool {
    DEPTH.with(Cell::get) < MAX_DEPTH
}

/// Counts one inline poll on this thread while it lives (also when the poll unwinds).
struct Nested;

impl Nested {
    fn enter() -> Nested {
        DEPTH.with(|d| d.set(d.get() + 1));
        Nested
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// The boxed steps.
type Steps = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A flight's steps, run by whoever polls it; handed to a task if dropped unfinished.
pub(crate) struct Inline {
    /// The steps; `None` once they have ended. In a `Mutex` only to be `Sync` (as a
    /// `SyncWrapper` is), so that `get_or_load`'s future stays `Sync`: it is only ever reached
    /// through `&mut self` (`get_mut`, which does not lock).
    run: Mutex<Option<Steps>>,
    spawner: Spawner,
}

impl Inline {
    /// `run`, to be awaited by the caller, or else finished on `spawner`'s runtime.
    pub(crate) fn new(run: Steps, spawner: Spawner) -> Self {
        Inline {
            run: Mutex::new(Some(run)),
            spawner,
        }
    }

    /// The steps, if they have not ended.
    fn steps(&mut self) -> &mut Option<Steps> {
        self.run.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Future for Inline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Taken out while polled: if the poll panics (the steps catch the loader's panics, so
        // only the engine's own could), the half-run future is dropped by the unwinding —
        // its guard lands `Cancelled` — rather than resumed on a task.
        let Some(mut run) = self.steps().take() else {
            return Poll::Ready(());
        };
        let _nested = Nested::enter();
        match run.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(()),
            Poll::Pending => {
                *self.steps() = Some(run);
                Poll::Pending
            }
        }
    }
}

impl Drop for Inline {
    /// The leader was dropped mid-load: the load goes on in a task of its own.
    fn drop(&mut self) {
        if let Some(run) = self.steps().take() {
            self.spawner.spawn(run);
        }
    }
}
