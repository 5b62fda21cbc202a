//! Auto-pipelining of reads ([`RedisOptions::auto_pipeline`](crate::RedisOptions)): typed
//! reads of one store (`get_bounded`, what a cache's tier read is) that arrive together are
//! sent as one `MGET` instead of one `GETRANGE` each.
//!
//! A read joins a queue. Up to [`MAX_SENDING`] sender tasks drain it, each taking everything
//! queued (at most [`MAX_BATCH`] keys) per command: one key goes as `GETRANGE` (bounded, as
//! without the option), several as one `MGET`. So under light traffic a read goes out at once,
//! as before, and under heavy traffic the reads that queued while the senders were busy share
//! one round trip and one command. Each key keeps its own answer: a miss, a record over the
//! codec's limit (an error for that key only — with `MGET` it has been downloaded), or its
//! bytes; a failed command hands its error to every read it carried.
//!
//! The senders are tasks of their own, spawned on the caller's runtime (else the one the store
//! was made in: [`spawn_sender`]), so a read whose caller gives up (its tier timeout, a dropped
//! future) cancels nothing for the others; such a read is left out of the next command. A sender dropped with its runtime ends
//! the reads it carried as [`StorageError::Cancelled`]; the last one also ends those still
//! queued. With [`MAX_QUEUED`] reads waiting (a server that stopped answering), a new read
//! goes out on its own instead of queueing behind them.
//!
//! Single servers only: a cluster's `MGET` is split by slot and fails whole when one shard
//! fails, which would fail every read batched with a key of that shard.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use memocache_core::storage::StorageError;
use tokio::sync::oneshot;

use crate::{bounded, RedisStore};

/// Sender tasks per store at most: as many commands in flight on the connection.
pub(crate) const MAX_SENDING: usize = 4;
/// Keys per `MGET` at most.
pub(crate) const MAX_BATCH: usize = 512;
/// Reads waiting at most; more go out on their own.
pub(crate) const MAX_QUEUED: usize = 8 * MAX_BATCH;

type Answer = Result<Option<Vec<u8>>, StorageError>;

/// One queued read.
struct Read {
    key: String,
    limit: usize,
    reply: oneshot::Sender<Answer>,
}

/// A store's read queue and its senders.
pub(crate) struct Reads {
    state: Mutex<State>,
    /// Where senders run when the caller is in no Tokio runtime: the one the store was made in.
    runtime: Option<tokio::runtime::Handle>,
}

#[derive(Default)]
struct State {
    /// Sender tasks running.
    sending: usize,
    queue: Vec<Read>,
}

impl Reads {
    /// An empty queue whose senders run in the current runtime, if any.
    pub(crate) fn new() -> Self {
        Reads {
            state: Mutex::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads `key` (at most `limit + 1` bytes of it count) through `reads`, the queue of `store`.
pub(crate) async fn read(
    store: &RedisStore,
    reads: &Arc<Reads>,
    key: &str,
    limit: usize,
) -> Answer {
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut state = reads.lock();
        if state.queue.len() >= MAX_QUEUED {
            None
        } else {
            state.queue.push(Read {
                key: key.to_owned(),
                limit,
                reply,
            });
            let start = state.sending < MAX_SENDING;
            state.sending += usize::from(start);
            Some(start)
        }
    };
    let Some(start) = start else {
        return store.get_range(key, limit).await;
    };
    if start {
        let sender = Sender {
            reads: Arc::clone(reads),
            done: false,
        };
        spawn_sender(reads.runtime.as_ref(), sender.run(store.clone()));
    }
    answer.await.unwrap_or(Err(StorageError::Cancelled))
}

/// Spawns a queue's sender on the caller's Tokio runtime, else on `made_in` (the runtime current
/// when the store was made): the caller's first, because a store can outlive the runtime it was
/// made in (its connection manager reconnects from the runtime of a later caller), and a
/// sender spawned on a runtime that is gone would be dropped at once, failing every operation
/// it was to carry. With neither, `sender` is dropped unrun, which ends its queue.
pub(crate) fn spawn_sender(
    made_in: Option<&tokio::runtime::Handle>,
    sender: impl std::future::Future<Output = ()> + Send + 'static,
) {
    match tokio::runtime::Handle::try_current()
        .ok()
        .or_else(|| made_in.cloned())
    {
        Some(runtime) => drop(runtime.spawn(sender)),
        None => drop(sender),
    }
}

/// A sender task: sends what is queued until the queue is empty.
struct Sender {
    reads: Arc<Reads>,
    /// Left with the queue empty (counted out under the lock).
    done: bool,
}

impl Sender {
    async fn run(mut self, store: RedisStore) {
        loop {
            let batch: Vec<Read> = {
                let mut state = self.reads.lock();
                if state.queue.is_empty() {
                    state.sending -= 1;
                    self.done = true;
                    return;
                }
                let n = state.queue.len().min(MAX_BATCH);
                state.queue.drain(..n).collect()
            };
            // Reads whose callers gave up are left out.
            let batch: Vec<Read> = batch.into_iter().filter(|r| !r.reply.is_closed()).collect();
            if !batch.is_empty() {
                send(&store, batch).await;
            }
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped mid-way (its runtime shut down): the reads it carried see their reply
        // dropped; the last sender also drops the queue, which no one would send.
        let orphans = {
            let mut state = self.reads.lock();
            state.sending -= 1;
            if state.sending == 0 {
                std::mem::take(&mut state.queue)
            } else {
                Vec::new()
            }
        };
        drop(orphans);
    }
}

/// Sends one batch: `GETRANGE` for one key, `MGET` for several; answers each read.
async fn send(store: &RedisStore, batch: Vec<Read>) {
    if batch.len() == 1 {
        for one in batch {
            let answer = store.get_range(&one.key, one.limit).await;
            let _ = one.reply.send(answer);
        }
        return;
    }
    let keys: Vec<&str> = batch.iter().map(|r| r.key.as_str()).collect();
    match store.mget(&keys).await {
        Ok(values) if values.len() == batch.len() => {
            for (read, value) in batch.into_iter().zip(values) {
                let _ = read.reply.send(bounded(value, read.limit));
            }
        }
        Ok(values) => {
            let e = StorageError::backend(std::io::Error::other(format!(
                "MGET of {} keys answered {} values",
                batch.len(),
                values.len()
            )));
            fan_out(batch, &e);
        }
        Err(e) => fan_out(batch, &e),
    }
}

/// Hands `e` to every read of `batch`.
fn fan_out(batch: Vec<Read>, e: &StorageError) {
    for read in batch {
        let _ = read.reply.send(Err(e.clone()));
    }
}
