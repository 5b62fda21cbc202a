//! The Redis side of the trace's Redis rows: one connection to the server for the store the
//! caches use, and one for what the runner reads from the server itself, the command counts of
//! `INFO commandstats` (server-wide, so the runner takes them before and after a row and
//! reports the difference; another client busy on the same server inflates them, which the
//! rows' client-side `tier_reads` shows).

use std::time::Duration;

use memocache::redis::redis::{self, aio::MultiplexedConnection};
use memocache::redis::{RedisOptions, RedisStore};

/// How long the runner waits for a Redis server to answer before skipping the Redis rows.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A Redis server the Redis rows run against.
pub struct Server {
    /// The store the caches' tiers use.
    pub store: RedisStore,
    admin: MultiplexedConnection,
}

/// Read commands the server has run so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Commands {
    /// Single-key reads: `GET` and `GETRANGE` calls.
    pub get: u64,
    /// `MGET` calls.
    pub mget: u64,
}

impl Server {
    /// Connects to `url` with a client-level command timeout of `timeout` (and concurrent
    /// reads sent together as one `MGET`, writes as one pipeline, if `auto_pipeline`), or says
    /// why it cannot.
    pub async fn connect(
        url: &str,
        timeout: Duration,
        auto_pipeline: bool,
    ) -> Result<Self, String> {
        let connect = async {
            let client = redis::Client::open(url).map_err(|e| e.to_string())?;
            let admin = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            let options = RedisOptions {
                response_timeout: timeout,
                auto_pipeline,
                ..RedisOptions::default()
            };
            let store = RedisStore::connect_with(url, options)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Server { store, admin })
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }

    /// The server's GET and MGET counts now.
    pub async fn commands(&mut self) -> Result<Commands, String> {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut self.admin)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Commands {
            // memocache reads a record with `GETRANGE` (bounded by the codec's size limit);
            // other clients with `GET`: both are single-key reads.
            get: command_calls(&info, "get") + command_calls(&info, "getrange"),
            mget: command_calls(&info, "mget"),
        })
    }
}

/// `calls` of command `name` (lower case, e.g. `get`) in the text of `INFO commandstats`;
/// 0 when the server has not run it yet (it then has no line).
///
/// ```
/// let info = "# Commandstats\r\ncmdstat_get:calls=1234,usec=900,usec_per_call=0.73,rejected_calls=0,failed_calls=0\r\n";
/// assert_eq!(memocache_bench::remote::command_calls(info, "get"), 1234);
/// assert_eq!(memocache_bench::remote::command_calls(info, "mget"), 0);
/// ```
pub fn command_calls(info: &str, name: &str) -> u64 {
    let prefix = format!("cmdstat_{name}:");
    info.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .flat_map(|fields| fields.split(','))
        .find_map(|f| f.strip_prefix("calls="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_calls_of_the_named_command_only() {
        let info = "# Commandstats\n\
            cmdstat_mget:calls=7,usec=10,usec_per_call=1.43,rejected_calls=0,failed_calls=0\n\
            cmdstat_get:calls=90681,usec=100,usec_per_call=0.00,rejected_calls=0,failed_calls=0\n\
            cmdstat_getex:calls=5,usec=1\n";
        assert_eq!(command_calls(info, "get"), 90_681);
        assert_eq!(command_calls(info, "mget"), 7);
        assert_eq!(command_calls(info, "getex"), 5);
        assert_eq!(command_calls(info, "set"), 0);
        assert_eq!(command_calls("", "get"), 0);
    }
}
