//! The runtime seam: the one place the engine spawns a task, sleeps, or puts a deadline on a
//! future. Everything else in the engine is runtime-agnostic (its wake-ups are
//! `tokio::sync::Notify` and `oneshot`, which work under any executor; its clock is
//! `coarsetime`, or Tokio's `Instant`, which reads the system clock outside a Tokio runtime).
//!
//! Which runtime runs a spawned task or a timer is decided per call, by where the call is
//! made:
//! - inside a Tokio runtime (`tokio::runtime::Handle::try_current` succeeds): Tokio's
//!   `spawn`, `sleep` and `timeout` — so paused-time tests keep working;
//! - elsewhere, with the `smol` feature: smol's global executor (`smol::spawn`, detached) and
//!   `async-io`'s timers (`smol::Timer`), which run without any runtime set up by the caller;
//! - elsewhere, without the feature: Tokio's, which panic outside a runtime, as `tokio::spawn`
//!   does (a [`Cache`](crate::Cache) is then unusable there, as before this seam existed).
//!
//! A model build (`--cfg memocache_shuttle`, see `sync.rs`) swaps in `shuttle`'s spawn and has
//! no clock: nothing times out and a sleep is a yield.

#[cfg(not(memocache_shuttle))]
mod imp {
    use std::future::Future;
    use std::time::Duration;

    /// Runs `task` on its own, detached, on the calling thread's runtime ([`Spawner::current`]).
    ///
    /// # Panics
    /// Outside a Tokio runtime when the `smol` feature is off, as `tokio::spawn` does.
    #[inline]
    pub(crate) fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Spawner::current().spawn(task);
    }

    /// Whether the calling thread runs inside a Tokio runtime.
    #[cfg(feature = "smol")]
    #[inline]
    fn off_tokio() -> bool {
        tokio::runtime::Handle::try_current().is_err()
    }

    /// Where a task runs: the runtime a call was made in. A load captures it when it starts
    /// (`load/inline.rs`), so a caller dropped elsewhere (on another thread, while unwinding)
    /// still hands the load to the runtime it started on — which, if it has shut down, drops
    /// it at once (its waiters get `Cancelled`, as a task the runtime dropped).
    pub(crate) enum Spawner {
        /// The Tokio runtime of the call.
        Tokio(tokio::runtime::Handle),
        /// smol's global executor (the call was made outside Tokio).
        #[cfg(feature = "smol")]
        Smol,
    }

    impl Spawner {
        /// The calling thread's: its Tokio runtime if it runs in one, else (with `smol`)
        /// smol's global executor.
        ///
        /// # Panics
        /// Outside a Tokio runtime when the `smol` feature is off, as `tokio::spawn` does.
        #[inline]
        pub(crate) fn current() -> Spawner {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => Spawner::Tokio(handle),
                #[cfg(feature = "smol")]
                Err(_) => Spawner::Smol,
                #[cfg(not(feature = "smol"))]
                Err(e) => panic!("{e}"),
            }
        }

        /// Runs `task` on its own, detached, on the captured runtime. Never panics: on a
        /// runtime that has shut down, `task` is dropped at once.
        pub(crate) fn spawn<F>(&self, task: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            match self {
                Spawner::Tokio(handle) => drop(handle.spawn(task)),
                #[cfg(feature = "smol")]
                Spawner::Smol => smol::spawn(task).detach(),
            }
        }
    }

    /// `future`'s output, or `Err` once `limit` has passed. `future` is polled first, so one
    /// that is ready is never timed out.
    #[inline]
    pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Result<F::Output, ()> {
        #[cfg(feature = "smol")]
        {
            if off_tokio() {
                // `Timer::after` a duration past the end of time never fires, like Tokio's.
                let deadline = async {
                    smol::Timer::after(limit).await;
                    Err(())
                };
                return smol::future::or(async { Ok(future.await) }, deadline).await;
            }
        }
        tokio::time::timeout(limit, future).await.map_err(drop)
    }

    /// Completes once `period` has passed.
    pub(crate) async fn sleep(period: Duration) {
        #[cfg(feature = "smol")]
        {
            if off_tokio() {
                smol::Timer::after(period).await;
                return;
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(memocache_shuttle)]
mod imp {
    use std::future::Future;
    use std::time::Duration;

    /// Runs `task` as a `shuttle` task, detached.
    pub(crate) fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(shuttle::future::spawn(task));
    }

    /// Where a load goes on if the caller driving it is dropped: a `shuttle` task.
    pub(crate) struct Spawner;

    impl Spawner {
        /// The model's executor.
        pub(crate) fn current() -> Spawner {
            Spawner
        }

        /// Runs `task` as a `shuttle` task, detached.
        pub(crate) fn spawn<F>(&self, task: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            spawn(task);
        }
    }

    /// `future`'s output: the model has no clock, so nothing times out.
    pub(crate) async fn timeout<F: Future>(_limit: Duration, future: F) -> Result<F::Output, ()> {
        Ok(future.await)
    }

    /// The model has no clock: a sleep lets the other tasks run once.
    pub(crate) async fn sleep(_period: Duration) {
        shuttle::future::yield_now().await;
    }
}

pub(crate) use imp::*;
