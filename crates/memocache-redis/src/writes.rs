//! Ordered auto-pipelining of writes ([`RedisOptions::auto_pipeline`](crate::RedisOptions)):
//! a store's `SET`s, `UNLINK`s and namespace clears reach the server in the order they were
//! made, and those made while an earlier batch is in flight go out together as one pipeline
//! (one socket write, one round trip) instead of one command each.
//!
//! Every write joins one queue, which one sender task drains in order, one batch at a time: a
//! batch is sent only once the one before it is answered (a namespace clear is started then,
//! and runs in a task of its own while the queue goes on). Order is what makes batching safe:
//! a `SET` whose caller gave up (a tier timeout) is still sent in its place, so it lands before
//! an `UNLINK` of its key made later, never after it (which would bring the removed value
//! back); and a removal or tag-generation bump whose caller gave up is still made.
//!
//! The sender is spawned on the caller's runtime (else the one the store was made in:
//! [`spawn_sender`](crate::pipeline::spawn_sender)) when a write finds none running, and stops when the queue is empty: under light traffic a
//! write goes out at once, and a caller that stops polling its write's future holds up no
//! other write. A sender dropped with its runtime ends the writes it carried and those queued
//! as [`StorageError::Cancelled`]. With [`MAX_QUEUED`] writes waiting (a server that stopped
//! answering), a new write fails at once instead of queueing behind them.
//!
//! Single servers only: a cluster store sends each command on its own (to the node of its key).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use memocache_core::storage::StorageError;
use redis::aio::ConnectionLike;
use redis::{RedisError, Value};
use tokio::sync::oneshot;

use crate::{backend, set_command, RedisStore};

/// Commands per pipeline at most.
pub(crate) const MAX_BATCH: usize = 512;
/// Writes waiting at most; more fail at once.
/// Room for every miss of a burst of tens of thousands of concurrent requests (10,000 loads
/// ending together queue 10,000 writes), while a server that stopped answering cannot make the
/// queue grow without bound.
pub(crate) const MAX_QUEUED: usize = 128 * MAX_BATCH;

type Answer = Result<(), StorageError>;

/// One command of a write.
pub(crate) enum Op {
    /// `SET key bytes PX <ttl>` ([`set_command`](crate::set_command)).
    Set {
        /// The key.
        key: String,
        /// The record.
        bytes: Vec<u8>,
        /// Its lifespan on the server.
        ttl: std::time::Duration,
    },
    /// `UNLINK key`.
    Unlink(String),
}

/// What one caller asked for: commands sent together (in one batch), or a namespace clear
/// (`SCAN` + `UNLINK` round trips, sent alone).
pub(crate) enum Job {
    /// `SET`s and `UNLINK`s.
    Ops(Vec<Op>),
    /// Every key starting with this prefix.
    Clear(String),
}

impl Job {
    fn commands(&self) -> usize {
        match self {
            Job::Ops(ops) => ops.len(),
            Job::Clear(_) => 1,
        }
    }
}

/// One queued job and who waits for its answer.
struct Write {
    job: Job,
    reply: oneshot::Sender<Answer>,
}

/// What a store's write pipelining has sent so far ([`RedisStore::write_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Commands written (`SET`, `UNLINK`; a namespace clear counts one).
    pub commands: u64,
    /// Round trips they took: a pipeline of several commands is one.
    pub batches: u64,
}

/// A store's write queue.
pub(crate) struct Writes {
    state: Mutex<State>,
    /// Where the sender runs when the caller is in no Tokio runtime: the one the store was made in.
    runtime: Option<tokio::runtime::Handle>,
    commands: AtomicU64,
    batches: AtomicU64,
}

#[derive(Default)]
struct State {
    /// A sender task is running. While none is, the queue is empty.
    sending: bool,
    queue: VecDeque<Write>,
}

impl Writes {
    /// An idle queue whose sender runs in the current runtime, if any.
    pub(crate) fn new() -> Self {
        Writes {
            state: Mutex::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            commands: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one batch of `commands` commands.
    fn count(&self, commands: usize) {
        self.commands.fetch_add(commands as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
    }

    /// What has been sent so far.
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            commands: self.commands.load(Relaxed),
            batches: self.batches.load(Relaxed),
        }
    }
}

/// Runs `job` on `store` through `writes`, the store's queue: in the next batch, at once if
/// nothing is in flight.
pub(crate) async fn write(store: &RedisStore, writes: &Arc<Writes>, job: Job) -> Answer {
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut state = writes.lock();
        if state.queue.len() >= MAX_QUEUED {
            return Err(StorageError::backend(std::io::Error::other(format!(
                "{MAX_QUEUED} Redis writes are waiting for the server: this one is refused"
            ))));
        }
        state.queue.push_back(Write { job, reply });
        !std::mem::replace(&mut state.sending, true)
    };
    if start {
        let sender = Sender {
            writes: Arc::clone(writes),
            done: false,
        };
        crate::pipeline::spawn_sender(writes.runtime.as_ref(), sender.run(store.clone()));
    }
    answer.await.unwrap_or(Err(StorageError::Cancelled))
}

/// A sender task: sends what is queued, one batch at a time, until the queue is empty.
struct Sender {
    writes: Arc<Writes>,
    /// Left with the queue empty (marked idle under the lock).
    done: bool,
}

impl Sender {
    async fn run(mut self, store: RedisStore) {
        loop {
            let batch = {
                let mut state = self.writes.lock();
                if state.queue.is_empty() {
                    state.sending = false;
                    self.done = true;
                    return;
                }
                take_batch(&mut state.queue)
            };
            // Sent whether or not their callers still wait: see the module's doc.
            let (jobs, replies): (Vec<Job>, Vec<_>) =
                batch.into_iter().map(|w| (w.job, w.reply)).unzip();
            if let [Job::Clear(prefix)] = jobs.as_slice() {
                // Everything before it is answered: the walk runs on its own, the queue goes on.
                self.writes.count(1);
                let (store, prefix) = (store.clone(), prefix.clone());
                let reply = replies.into_iter().next();
                drop(tokio::spawn(async move {
                    let answer = store.clear_now(&prefix).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(answer);
                    }
                }));
                continue;
            }
            let answers = send(&store, &self.writes, jobs).await;
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped mid-way (its runtime shut down): the writes it carried see their reply
        // dropped, and so do those queued, which no one would send.
        let orphans = {
            let mut state = self.writes.lock();
            state.sending = false;
            std::mem::take(&mut state.queue)
        };
        drop(orphans);
    }
}

/// The next batch from the front of `queue` (not empty): a clear alone, else jobs of commands
/// up to [`MAX_BATCH`] in all (at least one job), stopping before a clear.
fn take_batch(queue: &mut VecDeque<Write>) -> Vec<Write> {
    let mut batch = Vec::new();
    let mut commands = 0;
    while let Some(next) = queue.front() {
        let clear = matches!(next.job, Job::Clear(_));
        let n = next.job.commands();
        if !batch.is_empty() && (clear || commands + n > MAX_BATCH) {
            break;
        }
        commands += n;
        batch.extend(queue.pop_front());
        if clear {
            break;
        }
    }
    batch
}

/// Sends `jobs` (`SET`s and `UNLINK`s) as one pipeline; one answer per job.
async fn send(store: &RedisStore, writes: &Writes, jobs: Vec<Job>) -> Vec<Answer> {
    let commands: usize = jobs.iter().map(Job::commands).sum();
    if commands == 0 {
        // Only empty jobs (`set_many` of nothing): no pipeline (redis-rs would wait for a
        // reply that never comes and hand the next command's reply to it).
        return jobs.iter().map(|_| Ok(())).collect();
    }
    writes.count(commands);
    let mut pipe = redis::pipe();
    for job in &jobs {
        let Job::Ops(ops) = job else {
            unreachable!("a clear is started alone")
        };
        for op in ops {
            match op {
                Op::Set { key, bytes, ttl } => pipe.add_command(set_command(key, bytes, *ttl)),
                Op::Unlink(key) => pipe.cmd("UNLINK").arg(key),
            };
        }
    }
    let values = match store.single().await {
        Ok(Some(mut c)) => c
            .req_packed_commands(&pipe, 0, commands)
            .await
            .map_err(backend),
        Ok(None) => Err(StorageError::backend(std::io::Error::other(
            "write pipelining needs a single server",
        ))),
        Err(e) => Err(e),
    };
    let mut values = match values {
        Ok(values) if values.len() == commands => values.into_iter(),
        Ok(values) => {
            let e = StorageError::backend(std::io::Error::other(format!(
                "a pipeline of {commands} writes answered {} replies",
                values.len()
            )));
            return jobs.iter().map(|_| Err(e.clone())).collect();
        }
        Err(e) => return jobs.iter().map(|_| Err(e.clone())).collect(),
    };
    // Each job's answer: the first error among its commands' replies.
    jobs.iter()
        .map(|job| {
            let mut answer = Ok(());
            for value in values.by_ref().take(job.commands()) {
                if let (Ok(()), Value::ServerError(e)) = (&answer, value) {
                    answer = Err(backend(RedisError::from(e)));
                }
            }
            answer
        })
        .collect()
}
