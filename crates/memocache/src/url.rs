//! Storage URLs (cacheme's `Storage(url=...)`): [`StorageUrl::parse`] reads a URL into what
//! a storage needs, without any I/O, or says which part is wrong ([`UrlError`]). Opening
//! it, and naming it, is [`registry`](crate::registry)'s business.
//!
//! | URL | storage | parameters |
//! |---|---|---|
//! | `memory://lru?size=10000`, `memory://tlfu?size=10000` | an in-memory tier (LRU or W-TinyLFU) | `size` (required) |
//! | `redis://[user[:password]@]host[:port][/db]`, `rediss://…` (TLS) | Redis (feature `redis`) | `cluster` (`true`/`false`), `pool_size`, `connect_timeout_ms`, `timeout_ms` |
//! | `sqlite:///abs/path/cache.db`, `sqlite://relative.db`, `sqlite::memory:` | SQLite (feature `sqlite`) | the SQL ones below, `busy_timeout_ms` |
//! | `postgres://…`, `postgresql://user:password@host:5432/db` | PostgreSQL (feature `postgres`) | the SQL ones below |
//! | `mysql://user:password@host:3306/db`, `mariadb://…` | MySQL / MariaDB (feature `mysql`) | the SQL ones below |
//! | `file:///var/cache/app` | a directory, one file per entry (feature `fs`) | `max_bytes`, `fsync` (`never`/`data`/`full`), `sweep_every` |
//!
//! SQL parameters: `table` (default `cache`), `pool_size` (default 50), `connect_timeout_ms`,
//! `acquire_timeout_ms`, `sweep_every`, `sweep_batch`. Durations are whole milliseconds,
//! counts positive integers. Any other parameter is an error ([`UrlError::UnknownParam`]),
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
use std::time::Duration;

use memocache_core::EvictionPolicy;
use url::Url;

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

/// A URL's query parameters, taken one by one; what is left is unknown to this module.
struct Params {
    scheme: String,
    pairs: Vec<(String, String)>,
}

impl Params {
    fn of(url: &Url) -> Result<Self, UrlError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in url.query_pairs() {
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(UrlError::DuplicateParam { param: k.into() });
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params {
            scheme: url.scheme().to_owned(),
            pairs,
        })
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.pairs.iter().position(|(k, _)| k == name)?;
        Some(self.pairs.remove(i).1)
    }

    fn parse<T: std::str::FromStr>(
        &mut self,
        param: &'static str,
        expected: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<Option<T>, UrlError> {
        let Some(value) = self.take(param) else {
            return Ok(None);
        };
        match value.parse::<T>() {
            Ok(v) if ok(&v) => Ok(Some(v)),
            _ => Err(UrlError::BadParam {
                param,
                value,
                expected: expected.to_owned(),
            }),
        }
    }

    /// A count of at least 1.
    fn count<T: std::str::FromStr + PartialOrd + From<u8>>(
        &mut self,
        param: &'static str,
    ) -> Result<Option<T>, UrlError> {
        self.parse(param, "a positive integer", |v: &T| *v >= T::from(1))
    }

    /// Whole milliseconds, at least 1.
    fn millis(&mut self, param: &'static str) -> Result<Option<Duration>, UrlError> {
        Ok(self.count::<u64>(param)?.map(Duration::from_millis))
    }

    fn flag(&mut self, param: &'static str) -> Result<Option<bool>, UrlError> {
        self.parse(param, "true or false", |_: &bool| true)
    }

    /// Refuses what is left.
    fn finish(self) -> Result<(), UrlError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((param, _)) => Err(UrlError::UnknownParam {
                scheme: self.scheme,
                param,
            }),
        }
    }

    /// `url` with only the parameters left (for the driver), which must all be in
    /// `passed` (`None`: any).
    fn rest_of(self, url: &Url, passed: Option<&[&str]>) -> Result<String, UrlError> {
        if let Some(passed) = passed {
            if let Some((param, _)) = self
                .pairs
                .iter()
                .find(|(k, _)| !passed.contains(&k.as_str()))
            {
                return Err(UrlError::UnknownParam {
                    scheme: self.scheme,
                    param: param.clone(),
                });
            }
        }
        let mut out = url.clone();
        if self.pairs.is_empty() {
            out.set_query(None);
        } else {
            out.query_pairs_mut().clear().extend_pairs(self.pairs);
        }
        Ok(out.to_string())
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

fn memory(url: &Url, mut params: Params) -> Result<StorageUrl, UrlError> {
    let policy = match url.host_str().unwrap_or_default() {
        "lru" => EvictionPolicy::Lru,
        "tlfu" => EvictionPolicy::W_TINY_LFU,
        other => {
            return Err(UrlError::UnknownPolicy {
                policy: other.to_owned(),
            })
        }
    };
    let size = params
        .count::<usize>("size")?
        .ok_or(UrlError::MissingParam { param: "size" })?;
    params.finish()?;
    Ok(StorageUrl::Memory { policy, size })
}

#[cfg(feature = "redis")]
fn redis(url: &Url, mut params: Params) -> Result<StorageUrl, UrlError> {
    let cluster = params.flag("cluster")?.unwrap_or(false);
    // Checked for cacheme's URLs; the store multiplexes one connection.
    let _pool_size = params.count::<u32>("pool_size")?;
    let mut options = memocache_redis::RedisOptions::default();
    if let Some(t) = params.millis("connect_timeout_ms")? {
        options.connect_timeout = t;
    }
    if let Some(t) = params.millis("timeout_ms")? {
        options.response_timeout = t;
    }
    Ok(StorageUrl::Redis {
        url: params.rest_of(url, None)?,
        cluster,
        options,
    })
}

/// The sqlx URL of a `sqlite:` URL, with its query yet to be rebuilt: `sqlite:///abs`,
/// `sqlite://relative`, `sqlite::memory:`, `sqlite:relative`.
#[cfg(feature = "sqlite")]
fn sqlite_url(url: &Url) -> Result<String, UrlError> {
    let path = match url.host_str().filter(|h| !h.is_empty()) {
        Some(host) => format!("{host}{}", url.path()),
        None => url.path().to_owned(),
    };
    if path.is_empty() || path == "/" {
        return Err(UrlError::MissingPath {
            scheme: "sqlite".into(),
        });
    }
    Ok(if url.cannot_be_a_base() {
        format!("sqlite:{path}")
    } else {
        format!("sqlite://{path}")
    })
}

/// PostgreSQL parameters handed to sqlx.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
const PG_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "statement-cache-capacity",
];

/// MySQL parameters handed to sqlx.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
const MYSQL_PARAMS: &[&str] = &[
    "ssl-mode",
    "sslmode",
    "ssl-ca",
    "ssl-cert",
    "ssl-key",
    "charset",
    "collation",
    "statement-cache-capacity",
    "socket",
    "timezone",
];

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn sql(
    base: Option<String>,
    url: &Url,
    mut params: Params,
    strict: bool,
) -> Result<StorageUrl, UrlError> {
    let table = match params.take("table") {
        None => memocache_sql::TableName::default(),
        Some(value) => memocache_sql::TableName::new(&value).map_err(|e| UrlError::BadParam {
            param: "table",
            expected: format!("a valid table name ({e})"),
            value,
        })?,
    };
    let mut o = memocache_sql::SqlOptions::default();
    if let Some(n) = params.count("pool_size")? {
        o.pool_size = n;
    }
    if let Some(t) = params.millis("connect_timeout_ms")? {
        o.connect_timeout = t;
    }
    if let Some(t) = params.millis("acquire_timeout_ms")? {
        o.acquire_timeout = t;
    }
    if strict {
        if let Some(t) = params.millis("busy_timeout_ms")? {
            o.busy_timeout = t;
        }
    }
    if let Some(n) = params.parse("sweep_every", "an integer (0: never)", |_: &u32| true)? {
        o.sweep_every = n;
    }
    if let Some(n) = params.count("sweep_batch")? {
        o.sweep_batch = n;
    }
    let url = match base {
        // SQLite: sqlx's own parameters (`mode`, `cache`, …) are not passed on: the store
        // sets what it needs (create if missing, WAL).
        Some(base) => {
            params.finish()?;
            base
        }
        None => {
            let passed: &[&str] = if url.scheme().starts_with("postgres") {
                PG_PARAMS
            } else {
                MYSQL_PARAMS
            };
            params.rest_of(url, Some(passed))?
        }
    };
    Ok(StorageUrl::Sql {
        url,
        table,
        options: o,
    })
}

#[cfg(feature = "fs")]
fn file(url: &Url, mut params: Params) -> Result<StorageUrl, UrlError> {
    let mut options = memocache_fs::FileOptions::default();
    if let Some(n) = params.count::<u64>("max_bytes")? {
        options.max_bytes = Some(n);
    }
    if let Some(value) = params.take("fsync") {
        options.fsync = match value.as_str() {
            "never" => memocache_fs::Fsync::Never,
            "data" => memocache_fs::Fsync::Data,
            "full" => memocache_fs::Fsync::Full,
            _ => {
                return Err(UrlError::BadParam {
                    param: "fsync",
                    value,
                    expected: "never, data or full".into(),
                })
            }
        };
    }
    if let Some(n) = params.parse(
        "sweep_every",
        "an integer (0: only when over max_bytes)",
        |_: &u32| true,
    )? {
        options.sweep_every = n;
    }
    params.finish()?;
    let dir = url
        .to_file_path()
        .ok()
        .filter(|p| p.as_os_str().len() > 1)
        .ok_or(UrlError::MissingPath {
            scheme: "file".into(),
        })?;
    Ok(StorageUrl::File { dir, options })
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
