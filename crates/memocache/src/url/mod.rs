//! Storage URLs (cacheme's `Storage(url=...)`): [`StorageUrl::parse`] reads a URL into what
//! a storage needs, without any I/O, or says which part is wrong ([`UrlError`]). Opening
//! it, and naming it, is [`registry`](crate::registry)'s business.
//!
//! | URL | storage | parameters |
//! |---|---|---|
//! | `memory://lru?size=10000`, `memory://tlfu?size=10000` | an in-memory tier (LRU or W-TinyLFU) | `size` (required) |
//! | `redis://[user[:password]@]host[:port][/db]`, `rediss://…` (TLS) | Redis (feature `redis`) | `cluster` (`true`/`false`), `lazy` (`true`: connect on first use, single server), `pool_size`, `connect_timeout_ms`, `timeout_ms`, `auto_pipeline` (`true` by default: concurrent reads as one `MGET`, writes in order, concurrent ones as one pipeline) |
//! | `sqlite:///abs/path/cache.db`, `sqlite://relative.db`, `sqlite::memory:` | SQLite (feature `sqlite`) | the SQL ones below, `busy_timeout_ms` |
//! | `postgres://…`, `postgresql://user:password@host:5432/db` | PostgreSQL (feature `postgres`) | the SQL ones below |
//! | `mysql://user:password@host:3306/db`, `mariadb://…` | MySQL / MariaDB (feature `mysql`) | the SQL ones below |
//! | `file:///var/cache/app` | a directory, one file per entry (feature `fs`) | `max_bytes`, `fsync` (`never`/`data`/`full`), `sweep_every` |
//!
//! SQL parameters: `table` (default `cache`), `pool_size` (default 50), `connect_timeout_ms`,
//! `acquire_timeout_ms`, `sweep_every`, `sweep_batch`. Durations are whole milliseconds,
//! counts positive integers (`sweep_every` may be 0: SQL never sweeps on writes, `file://`
//! sweeps only when over `max_bytes`). Any other parameter is an error ([`UrlError::UnknownParam`]),
//! except the driver's own that are handed on: for PostgreSQL `sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey`, `application_name`, `options`, `statement-cache-capacity`; for MySQL
//! `ssl-mode` / `sslmode`, `ssl-ca`, `ssl-cert`, `ssl-key`, `charset`, `collation`,
//! `statement-cache-capacity`, `socket`, `timezone`; for Redis every other parameter and the
//! fragment (`#insecure`), as the `redis` crate reads them.
//!
//! Redis multiplexes every request over one connection (one per node of a cluster), so
//! `pool_size` is checked and accepted for cacheme's URLs but changes nothing there.
//!
//! Errors name the parameter or part at fault and never repeat the URL, so a password in it
//! does not reach a log.

// A build without some backends leaves their helpers unused.
#![cfg_attr(
    not(all(
        feature = "redis",
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "fs"
    )),
    allow(dead_code)
)]

use std::fmt;

use memocache_core::EvictionPolicy;
use url::Url;

mod schemes;

use schemes::*;

/// A storage URL, parsed and checked.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageUrl {
    /// `memory://{lru|tlfu}?size=N`: an in-memory tier of `size` entries.
    Memory {
        /// `lru` → [`EvictionPolicy::Lru`], `tlfu` → [`EvictionPolicy::W_TINY_LFU`].
        policy: EvictionPolicy,
        /// Entries at most.
        size: usize,
    },
    /// `redis://…` or `rediss://…`.
    #[cfg(feature = "redis")]
    Redis {
        /// The URL for the Redis client, without this module's parameters.
        url: String,
        /// `cluster=true`: a Redis Cluster reached through this node.
        cluster: bool,
        /// `lazy=true` (single server only): connect on first use, so that the storage can be
        /// opened while the server is down ([`RedisStore::connect_lazy`](memocache_redis::RedisStore::connect_lazy)).
        lazy: bool,
        /// The client's options (`connect_timeout_ms`, `timeout_ms`).
        options: memocache_redis::RedisOptions,
    },
    /// `sqlite:…`, `postgres(ql)://…`, `mysql://…`, `mariadb://…`.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    Sql {
        /// The URL for sqlx, without this module's parameters.
        url: String,
        /// The table (`table`).
        table: memocache_sql::TableName,
        /// The pool and sweep options.
        options: memocache_sql::SqlOptions,
    },
    /// `file:///dir`.
    #[cfg(feature = "fs")]
    File {
        /// The directory.
        dir: std::path::PathBuf,
        /// The size bound, durability and sweep.
        options: memocache_fs::FileOptions,
    },
}

/// What is wrong with a storage URL. Each case names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL at all.
    #[error("not a valid URL: {reason}")]
    Syntax {
        /// What the URL parser said.
        reason: String,
    },
    /// A scheme no storage has.
    #[error("unknown storage scheme {scheme:?} (memory, redis, rediss, sqlite, postgres, postgresql, mysql, mariadb, file)")]
    UnknownScheme {
        /// The scheme.
        scheme: String,
    },
    /// A scheme whose storage this build left out.
    #[error("the {scheme:?} storage needs memocache's cargo feature {feature:?}")]
    FeatureDisabled {
        /// The scheme.
        scheme: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// `memory://` with a policy other than `lru` or `tlfu`.
    #[error("unknown memory policy {policy:?} (lru, tlfu)")]
    UnknownPolicy {
        /// The URL's host part.
        policy: String,
    },
    /// A required parameter is missing.
    #[error("parameter {param:?} is required")]
    MissingParam {
        /// Its name.
        param: &'static str,
    },
    /// A parameter this scheme does not take.
    #[error("unknown parameter {param:?} for a {scheme} URL")]
    UnknownParam {
        /// The scheme.
        scheme: String,
        /// The parameter.
        param: String,
    },
    /// A parameter given twice.
    #[error("parameter {param:?} is given twice")]
    DuplicateParam {
        /// Its name.
        param: String,
    },
    /// A parameter's value is not what it should be.
    #[error("parameter {param:?} = {value:?}: expected {expected}")]
    BadParam {
        /// Its name.
        param: &'static str,
        /// The value given.
        value: String,
        /// What it should be.
        expected: String,
    },
    /// A path-based URL (`sqlite`, `file`) without a path.
    #[error("a {scheme} URL needs a path")]
    MissingPath {
        /// The scheme.
        scheme: String,
    },
    /// A URL with a fragment (`#…`), which no storage reads.
    #[error("URL fragments (#…) are not read by any storage")]
    Fragment,
}

impl fmt::Debug for StorageUrl {
    /// Shows no password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::Memory { policy, size } => f
                .debug_struct("Memory")
                .field("policy", policy)
                .field("size", size)
                .finish(),
            #[cfg(feature = "redis")]
            StorageUrl::Redis { url, cluster, .. } => f
                .debug_struct("Redis")
                .field("url", &redact(url))
                .field("cluster", cluster)
                .finish_non_exhaustive(),
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            StorageUrl::Sql {
                url,
                table,
                options,
            } => f
                .debug_struct("Sql")
                .field("url", &redact(url))
                .field("table", &table.as_str())
                .field("options", options)
                .finish(),
            #[cfg(feature = "fs")]
            StorageUrl::File { dir, options } => f
                .debug_struct("File")
                .field("dir", dir)
                .field("options", options)
                .finish(),
        }
    }
}

/// `url` with its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl std::str::FromStr for StorageUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        StorageUrl::parse(s)
    }
}

impl StorageUrl {
    /// Parses and checks `url` (see the [module documentation](self) for the schemes and
    /// parameters).
    ///
    /// # Errors
    /// A [`UrlError`] naming the part at fault.
    ///
    /// ```
    /// use memocache::url::{StorageUrl, UrlError};
    ///
    /// let memory = StorageUrl::parse("memory://tlfu?size=10000").unwrap();
    /// assert!(matches!(memory, StorageUrl::Memory { size: 10_000, .. }));
    /// assert_eq!(
    ///     StorageUrl::parse("memory://lru?size=0").unwrap_err(),
    ///     UrlError::BadParam { param: "size", value: "0".into(), expected: "a positive integer".into() },
    /// );
    /// ```
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let parsed = Url::parse(url).map_err(|e| UrlError::Syntax {
            reason: e.to_string(),
        })?;
        let scheme = parsed.scheme().to_owned();
        if parsed.fragment().is_some() && !scheme.starts_with("redis") {
            return Err(UrlError::Fragment);
        }
        let params = Params::of(&parsed)?;
        #[allow(unused_variables)]
        let disabled = |feature| UrlError::FeatureDisabled {
            scheme: scheme.clone(),
            feature,
        };
        match scheme.as_str() {
            "memory" => memory(&parsed, params),
            "redis" | "rediss" => {
                #[cfg(feature = "redis")]
                return redis(&parsed, params);
                #[cfg(not(feature = "redis"))]
                Err(disabled("redis"))
            }
            "sqlite" => {
                #[cfg(feature = "sqlite")]
                return sql(Some(sqlite_url(&parsed)?), &parsed, params, true);
                #[cfg(not(feature = "sqlite"))]
                Err(disabled("sqlite"))
            }
            "postgres" | "postgresql" => {
                #[cfg(feature = "postgres")]
                return sql(None, &parsed, params, false);
                #[cfg(not(feature = "postgres"))]
                Err(disabled("postgres"))
            }
            "mysql" | "mariadb" => {
                #[cfg(feature = "mysql")]
                return sql(None, &parsed, params, false);
                #[cfg(not(feature = "mysql"))]
                Err(disabled("mysql"))
            }
            "file" => {
                #[cfg(feature = "fs")]
                return file(&parsed, params);
                #[cfg(not(feature = "fs"))]
                Err(disabled("fs"))
            }
            _ => Err(UrlError::UnknownScheme { scheme }),
        }
    }

    /// The scheme's storage: `memory`, `redis`, `sqlite`, `postgres`, `mysql` or `file`.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageUrl::Memory { .. } => "memory",
            #[cfg(feature = "redis")]
            StorageUrl::Redis { .. } => "redis",
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            StorageUrl::Sql { url, .. } => match url.split(':').next().unwrap_or_default() {
                "sqlite" => "sqlite",
                "postgres" | "postgresql" => "postgres",
                _ => "mysql",
            },
            #[cfg(feature = "fs")]
            StorageUrl::File { .. } => "file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by `.ci/run` on a build without backends (`--no-default-features --features
    /// config`); with every backend on, no scheme is left out and nothing is checked.
    #[test]
    fn schemes_of_left_out_backends_name_their_feature() {
        let enabled = |feature: &str| match feature {
            "redis" => cfg!(feature = "redis"),
            "sqlite" => cfg!(feature = "sqlite"),
            "postgres" => cfg!(feature = "postgres"),
            "mysql" => cfg!(feature = "mysql"),
            _ => cfg!(feature = "fs"),
        };
        for (url, feature) in [
            ("redis://h", "redis"),
            ("rediss://h", "redis"),
            ("sqlite:///x.db", "sqlite"),
            ("postgres://h/d", "postgres"),
            ("postgresql://h/d", "postgres"),
            ("mysql://h/d", "mysql"),
            ("mariadb://h/d", "mysql"),
            ("file:///d", "fs"),
        ] {
            if enabled(feature) {
                continue;
            }
            let scheme = url.split(':').next().unwrap().to_owned();
            assert_eq!(
                StorageUrl::parse(url),
                Err(UrlError::FeatureDisabled { scheme, feature }),
                "{url}"
            );
        }
        assert!(StorageUrl::parse("memory://lru?size=1").is_ok());
    }
}
