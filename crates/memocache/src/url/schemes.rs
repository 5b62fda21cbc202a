//! The URL of each storage kind read into a [`StorageUrl`]: its parameters taken one by one
//! ([`Params`]), checked, and what is left handed to the driver or refused.

use std::time::Duration;

use memocache_core::EvictionPolicy;
use url::Url;

use super::{StorageUrl, UrlError};

/// A URL's query parameters, taken one by one; what is left is unknown to this module.
pub(super) struct Params {
    scheme: String,
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(super) fn of(url: &Url) -> Result<Self, UrlError> {
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

pub(super) fn memory(url: &Url, mut params: Params) -> Result<StorageUrl, UrlError> {
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
pub(super) fn redis(url: &Url, mut params: Params) -> Result<StorageUrl, UrlError> {
    let cluster = params.flag("cluster")?.unwrap_or(false);
    let lazy = params.flag("lazy")?.unwrap_or(false);
    if lazy && cluster {
        return Err(UrlError::BadParam {
            param: "lazy",
            value: "true".into(),
            expected: "false with cluster=true (a cluster connects at once)".into(),
        });
    }
    // Checked for cacheme's URLs; the store multiplexes one connection.
    let _pool_size = params.count::<u32>("pool_size")?;
    let mut options = memocache_redis::RedisOptions::default();
    if let Some(t) = params.millis("connect_timeout_ms")? {
        options.connect_timeout = t;
    }
    if let Some(t) = params.millis("timeout_ms")? {
        options.response_timeout = t;
    }
    if let Some(on) = params.flag("auto_pipeline")? {
        options.auto_pipeline = on;
    }
    Ok(StorageUrl::Redis {
        url: params.rest_of(url, None)?,
        cluster,
        lazy,
        options,
    })
}

/// The sqlx URL of a `sqlite:` URL, with its query yet to be rebuilt: `sqlite:///abs`,
/// `sqlite://relative`, `sqlite::memory:`, `sqlite:relative`.
#[cfg(feature = "sqlite")]
pub(super) fn sqlite_url(url: &Url) -> Result<String, UrlError> {
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
pub(super) fn sql(
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
pub(super) fn file(url: &Url, mut params: Params) -> Result<StorageUrl, UrlError> {
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
