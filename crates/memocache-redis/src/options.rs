//! How a [`RedisStore`](crate::RedisStore) connects and what it batches: [`RedisOptions`],
//! the connection manager's settings made from them, and the queues they ask for.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

use crate::{pipeline, writes};

/// Default timeout of one connection attempt and of one command at the client level: 1 s.
/// (A cache tier has its own per-operation timeout on top, also 1 s by default.)
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Connection options of a [`RedisStore`](crate::RedisStore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// Timeout of one connection attempt (default 1 s).
    pub connect_timeout: Duration,
    /// Timeout of one command at the client level (default 1 s).
    pub response_timeout: Duration,
    /// Reconnection attempts after a lost connection, single server (default 2; the next
    /// command tries again).
    pub reconnect_retries: usize,
    /// Send typed reads made at the same time together, as one `MGET` (default `true`): under
    /// load, many concurrent cache misses cost one command and one round trip instead of one
    /// `GETRANGE` each, with each key's answer its own. Under light traffic a read still goes
    /// out at once (up to 4 commands in flight), so nothing waits for a timer. A batched read
    /// downloads a record over the codec's size limit before refusing it (a lone one, by
    /// `GETRANGE`, does not), and a key holding another type than a string reads as a miss
    /// (`GETRANGE` would fail). Single servers only: a cluster store ignores it (its `MGET`
    /// fails whole when one shard fails). A Redis user needs the `MGET` permission.
    ///
    /// Writes too: `SET`s, `UNLINK`s and namespace clears reach the server in the order they
    /// were made, and those made while an earlier batch is in flight go out together as one
    /// pipeline (one round trip; each write's answer its own). A write made with none in flight
    /// goes out at once. A write whose caller gave up (a tier timeout) is still sent in its
    /// place, so a late `SET` can never land after a later removal of its key. Past 65,536
    /// queued writes (a server that stopped answering) a new one fails at once. The price: a
    /// lone read or write goes through a sender task and back (measured ~0.1 ms more on a
    /// loaded 2-core host); turn the option off for the lowest latency of single operations.
    /// [`RedisStore::write_stats`](crate::RedisStore::write_stats) counts commands and round
    /// trips.
    pub auto_pipeline: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            connect_timeout: DEFAULT_TIMEOUT,
            response_timeout: DEFAULT_TIMEOUT,
            reconnect_retries: 2,
            auto_pipeline: true,
        }
    }
}

/// The connection manager's settings for `options`.
pub(crate) fn manager_config(options: RedisOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(options.connect_timeout)
        .set_response_timeout(options.response_timeout)
        .set_number_of_retries(options.reconnect_retries)
        .set_factor(50)
        .set_max_delay(1000)
}

/// A new read queue if `options` ask for auto-pipelining (single servers only).
pub(crate) fn reads(options: RedisOptions) -> Option<Arc<pipeline::Reads>> {
    options
        .auto_pipeline
        .then(|| Arc::new(pipeline::Reads::new()))
}

/// A new write queue if `options` ask for auto-pipelining (single servers only).
pub(crate) fn writes(options: RedisOptions) -> Option<Arc<writes::Writes>> {
    options
        .auto_pipeline
        .then(|| Arc::new(writes::Writes::new()))
}
