//! Target `storage_url`: `memocache::url::StorageUrl::parse`, the storage URLs of cacheme's
//! `Storage(url=...)`, built with every backend so that every scheme is read.
//!
//! Input: byte 0 even: the rest is a text (UTF-8, or lossily converted), parsed; odd: the rest
//! feeds `arbitrary` for a [`Shape`], written as a URL and parsed: a scheme (mostly a documented
//! one), sometimes a user, half the time a password marked `Pw…` (some characters `%XX`), a
//! host, sometimes a port, a path, parameters and sometimes a fragment. Host, path, parameter
//! names and values mostly fit the scheme and the parameter (`memory://lru`, `size=10000`,
//! `fsync=data`, PostgreSQL's `sslmode`), else are edges (`size=0`, `4294967296`, `+5`, `1.5`,
//! `sqlite_x`, `Size`, `LRU`) or any text, so that every check of every scheme, and its `Ok`, is
//! reached often.
//!
//! Checked, against the module documentation of `memocache::url`:
//! - `parse` never panics, gives the same result twice, and `str::parse` agrees;
//! - a text the `url` crate refuses is `Syntax` with that crate's reason; otherwise a reference
//!   of the documented rules, over the `url` crate's reading of the text (scheme, host, path,
//!   fragment, decoded query pairs), lists the errors that apply: `DuplicateParam` (a name given
//!   twice), `Fragment` (any scheme but `redis`/`rediss`), `UnknownScheme`, `UnknownPolicy`
//!   (`memory` host other than `lru`/`tlfu`), `MissingParam` (`size`), `UnknownParam` (a name
//!   the scheme neither reads nor hands on), `MissingPath` (`sqlite`, `file`), `BadParam` (a
//!   count that is not a positive integer of its type, a duration not whole positive
//!   milliseconds, a flag not `true`/`false`, `lazy` with `cluster`, a sweep interval not an
//!   integer, an `fsync` mode or table name not documented). `parse` is `Ok` exactly when none
//!   applies, and an error is one of those that apply;
//! - on `Ok`: the variant and `kind()` follow the scheme, the value is the parameters' or the
//!   documented default (table `cache`, pool 50); the URL handed to the Redis client or sqlx
//!   keeps the scheme, user, password, host, port, path and (Redis) fragment and exactly the
//!   parameters this module does not read; SQLite's keeps the location only;
//! - no password (the `url` crate's, as written or decoded, at least 4 characters holding `Pw`
//!   and standing nowhere else in the URL) is in an error's `Display` or `Debug` or in a
//!   `StorageUrl`'s `Debug`, which shows `***` in its place.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use memocache::fs::{FileOptions, Fsync};
use memocache::redis::RedisOptions;
use memocache::sql::{SqlOptions, TableName};
use memocache::url::{StorageUrl, UrlError};
use memocache::EvictionPolicy;
use url::Url;

/// The documented schemes.
pub const SCHEMES: &[&str] = &[
    "memory",
    "redis",
    "rediss",
    "sqlite",
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "file",
];

/// Schemes no storage has (or spelled otherwise).
const OTHER_SCHEMES: &[&str] = &[
    "mongodb",
    "redis+unix",
    "unix",
    "redisx",
    "MEMORY",
    "Redis",
    "sqlite3",
    "http",
];

/// The parameters this module reads, of any scheme.
pub const OURS: &[&str] = &[
    "size",
    "cluster",
    "lazy",
    "pool_size",
    "connect_timeout_ms",
    "timeout_ms",
    "table",
    "acquire_timeout_ms",
    "busy_timeout_ms",
    "sweep_every",
    "sweep_batch",
    "max_bytes",
    "fsync",
];

/// PostgreSQL parameters handed to sqlx, copied from the module documentation (not taken from
/// the parser, whose own list is what is checked).
const PG_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "statement-cache-capacity",
];

/// MySQL parameters handed to sqlx (module documentation).
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

/// Names no scheme reads (or spelled otherwise).
const OTHER_PARAMS: &[&str] = &[
    "capacity", "protocol", "mode", "tabel", "", "Size", "size ", "insecure", "db",
];

/// Values at the edges of the parameters' types.
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "50",
    "10000",
    "-1",
    "-0",
    "+5",
    "+",
    "007",
    "1.5",
    "0x10",
    " 1",
    "1 ",
    "1a",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "true",
    "false",
    "TRUE",
    "maybe",
    "",
    "never",
    "data",
    "full",
    "cache",
    "users",
    "_t1",
    "1t",
    "sqlite_x",
    "SQLITE_x",
    "x;DROP TABLE y",
    "require",
    "utf8mb4",
    "resp3",
    "é",
];

const HOSTS: &[&str] = &[
    "lru",
    "tlfu",
    "LRU",
    "lfu",
    "",
    "localhost",
    "127.0.0.1",
    "db",
    "h",
    "[::1]",
    "cache.db",
    "relative.db",
    "a b",
    "Pw12",
];

const PATHS: &[&str] = &[
    "",
    "/",
    "/0",
    "/db",
    "/test",
    "/var/cache/app",
    "/var/cache/app/cache.db",
    ":memory:",
    "relative/cache.db",
    "/d/",
    "//x",
    "/.",
    "/..",
    "/%20x",
    "/a%2Fb",
    "/C:",
];

/// A choice: most often one that fits the scheme (or the parameter), else one of a list of
/// edges, else any text.
#[derive(Debug)]
pub enum Pick {
    Fit(u8),
    Edge(u8),
    Any(String),
}

impl<'a> Arbitrary<'a> for Pick {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.int_in_range(0..=7)? {
            0..=4 => Pick::Fit(u.arbitrary()?),
            5 | 6 => Pick::Edge(u.arbitrary()?),
            _ => Pick::Any(String::arbitrary(u)?),
        })
    }
}

impl Pick {
    fn of(&self, fit: &[&str], edges: &[&str]) -> String {
        let at = |list: &[&str], i: u8| list[usize::from(i) % list.len()].to_owned();
        match self {
            Pick::Fit(i) if !fit.is_empty() => at(fit, *i),
            Pick::Fit(i) | Pick::Edge(i) => at(edges, *i),
            Pick::Any(s) => s.clone(),
        }
    }
}

/// A parameter value: a [`Pick`], or any integer (maybe signed or zero-padded).
#[derive(Debug)]
pub enum Value {
    Pick(Pick),
    Number(String),
}

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(1, 4)? {
            let n: u128 = u.arbitrary()?;
            let n = n >> u.int_in_range(0..=127)?;
            let sign = *u.choose(&["", "", "+", "-", "0"])?;
            Ok(Value::Number(format!("{sign}{n}")))
        } else {
            Ok(Value::Pick(Pick::arbitrary(u)?))
        }
    }
}

/// Present a quarter of the time.
#[derive(Debug)]
pub struct Rare<T>(pub Option<T>);

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Rare<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Rare(if u.ratio(1, 4)? {
            Some(T::arbitrary(u)?)
        } else {
            None
        }))
    }
}

/// A password: `Pw` then 2 to 8 characters, some of them written `%XX`.
#[derive(Debug)]
pub struct Password(pub String);

impl<'a> Arbitrary<'a> for Password {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const CHARS: &[char] = &[
            'a', 'b', 'X', 'Z', '0', '9', '-', '.', '_', '~', '!', '$', '&', '\'', '(', '*', '+',
            ',', ';', '=', ' ', '%', '@', ':', '/', '?', '#', 'é', '"', '\\',
        ];
        let mut s = String::from("Pw");
        for _ in 0..u.int_in_range(2..=8)? {
            s.push(*u.choose(CHARS)?);
        }
        Ok(Password(s))
    }
}

/// The structured input: a URL of parts drawn to reach each scheme's checks.
#[derive(Debug, Arbitrary)]
pub struct Shape {
    /// Mostly a documented scheme ([`SCHEMES`]), else another.
    pub scheme: u8,
    /// `scheme://authority/path`, or a quarter of the time `scheme:path`.
    pub slashes: u8,
    pub user: Rare<Pick>,
    pub password: Option<Password>,
    pub host: Pick,
    pub port: Rare<u16>,
    pub path: Pick,
    pub params: Vec<(Pick, Value)>,
    pub fragment: Rare<Pick>,
}

/// The SQL parameters, but SQLite's `busy_timeout_ms`.
const SQL: [&str; 6] = [
    "table",
    "pool_size",
    "connect_timeout_ms",
    "acquire_timeout_ms",
    "sweep_every",
    "sweep_batch",
];

/// Hosts, paths and parameter names that fit `scheme`.
fn fitting(
    scheme: &str,
) -> (
    &'static [&'static str],
    &'static [&'static str],
    Vec<&'static str>,
) {
    match scheme {
        "memory" => (&["lru", "tlfu"], &["", "/"], vec!["size"]),
        "redis" | "rediss" => (
            &["127.0.0.1", "h", "cache.example.com", "[::1]"],
            &["", "/0", "/2"],
            vec![
                "cluster",
                "lazy",
                "pool_size",
                "connect_timeout_ms",
                "timeout_ms",
                "protocol",
            ],
        ),
        "sqlite" => (
            &["", "relative.db"],
            &[
                "/var/cache/app/cache.db",
                "/c.db",
                ":memory:",
                "relative/cache.db",
            ],
            [&SQL[..], &["busy_timeout_ms"]].concat(),
        ),
        "postgres" | "postgresql" => (
            &["db", "127.0.0.1", "localhost"],
            &["/test", "/db", ""],
            [&SQL[..], PG_PARAMS].concat(),
        ),
        "mysql" | "mariadb" => (
            &["db", "127.0.0.1", "localhost"],
            &["/test", "/db", ""],
            [&SQL[..], MYSQL_PARAMS].concat(),
        ),
        "file" => (
            &["", "localhost"],
            &["/var/cache/app", "/d", "/d/"],
            vec!["max_bytes", "fsync", "sweep_every"],
        ),
        _ => (&["h"], &["/"], vec![]),
    }
}

/// Values that fit the parameter `name`.
fn fitting_values(name: &str) -> &'static [&'static str] {
    match name {
        "cluster" | "lazy" => &["true", "false"],
        "sweep_every" => &["0", "1", "256"],
        "fsync" => &["never", "data", "full"],
        "table" => &["cache", "users", "_t1", "T_2"],
        "size" | "pool_size" | "sweep_batch" | "max_bytes" => &["1", "2", "50", "10000"],
        n if n.ends_with("_ms") => &["1", "250", "5000"],
        _ => &["require", "utf8mb4", "resp3", "1"],
    }
}

/// `%XX` for every byte of `s` but ASCII letters and digits.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `s` encoded as a query name or value.
fn form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Shape {
    /// The URL text.
    pub fn text(&self) -> String {
        let scheme = if self.scheme < 224 {
            SCHEMES[usize::from(self.scheme) % SCHEMES.len()]
        } else {
            OTHER_SCHEMES[usize::from(self.scheme) % OTHER_SCHEMES.len()]
        };
        let (hosts, paths, names) = fitting(scheme);
        let mut s = format!("{scheme}:");
        let path = self.path.of(paths, PATHS);
        if !self.slashes.is_multiple_of(4) {
            s.push_str("//");
            if self.user.0.is_some() || self.password.is_some() {
                let users = ["user", "root", "default"];
                let edges = ["", "u", "Pw", "a%40b"];
                s.push_str(
                    &self
                        .user
                        .0
                        .as_ref()
                        .map_or(String::new(), |u| u.of(&users, &edges)),
                );
                if let Some(p) = &self.password {
                    s.push(':');
                    s.push_str(&escape(&p.0));
                }
                s.push('@');
            }
            s.push_str(&self.host.of(hosts, HOSTS));
            if let Some(port) = self.port.0 {
                s.push_str(&format!(":{port}"));
            }
            if !path.is_empty() && !path.starts_with('/') {
                s.push('/');
            }
        }
        s.push_str(&path);
        let all_names = [OURS, PG_PARAMS, MYSQL_PARAMS, OTHER_PARAMS].concat();
        for (i, (name, value)) in self.params.iter().enumerate() {
            let name = name.of(&names, &all_names);
            let value = match value {
                Value::Pick(p) => p.of(fitting_values(&name), VALUES),
                Value::Number(n) => n.clone(),
            };
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&format!("{}={}", form(&name), form(&value)));
        }
        if let Some(f) = &self.fragment.0 {
            s.push('#');
            s.push_str(&f.of(&["insecure"], &["", "x", "Pw12"]));
        }
        s
    }
}

/// The target.
pub fn run(data: &[u8]) {
    if let Some(text) = text_of(data) {
        check(&text);
    }
}

/// The URL text an input stands for (`None`: too short for a [`Shape`]).
pub fn text_of(data: &[u8]) -> Option<String> {
    let [mode, rest @ ..] = data else { return None };
    if mode % 2 == 0 {
        Some(String::from_utf8_lossy(rest).into_owned())
    } else {
        let shape = Shape::arbitrary_take_rest(Unstructured::new(rest)).ok()?;
        Some(shape.text())
    }
}

/// Every property, for one text.
pub fn check(text: &str) {
    let got = StorageUrl::parse(text);
    assert_eq!(got, StorageUrl::parse(text), "{text:?}: not deterministic");
    assert_eq!(got, text.parse::<StorageUrl>(), "{text:?}: FromStr differs");
    let shown = show(&got);
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(e) => {
            assert_eq!(
                got,
                Err(UrlError::Syntax {
                    reason: e.to_string()
                }),
                "{text:?}"
            );
            return;
        }
    };
    no_password(text, &url, &got, &shown);
    let mut reference = Reference {
        pairs: url.query_pairs().into_owned().collect(),
        read: Vec::new(),
        errors: Vec::new(),
    };
    let expected = reference.storage(&url);
    let errors = reference.errors;
    match got {
        Ok(storage) => {
            assert!(
                errors.is_empty(),
                "{text:?} accepted as {storage:?}, but the documented errors {errors:?} apply"
            );
            let (expected, driver) = expected.expect("no error, so a storage");
            check_storage(text, &url, storage, expected, driver);
        }
        Err(e) => assert!(
            errors.contains(&e),
            "{text:?}: {e:?}; the documented errors that apply are {errors:?}"
        ),
    }
}

/// The URL's password, as written and decoded, is not in `shown` (unless it lacks the `Pw`
/// marker, stands elsewhere in the URL, or is shown as well for the same URL with another
/// password: `"…aaPw"` then a closing quote shows the password `Pw"`); a driver URL's `Debug`
/// shows `***` in its place.
fn no_password(text: &str, url: &Url, got: &Result<StorageUrl, UrlError>, shown: &str) {
    let Some(password) = url.password() else {
        return;
    };
    let serialized = url.as_str();
    let renderings = [
        text.to_owned(),
        serialized.to_owned(),
        decode(serialized),
        decode(&serialized.replace('+', " ")),
        decode(text),
        decode(&text.replace('+', " ")),
    ];
    let mut twin = url.clone();
    twin.set_password(Some("Zz"))
        .expect("a URL with a password takes another");
    let twin_shown = show(&StorageUrl::parse(twin.as_str()));
    for form in [password.to_owned(), decode(password)] {
        let marked = form.contains("Pw") && form.chars().count() >= 4;
        if !marked
            || renderings.iter().any(|r| occurrences(r, &form) > 1)
            || twin_shown.contains(&form)
        {
            continue;
        }
        assert!(
            !shown.contains(&form),
            "{text:?}: the password {form:?} is shown: {shown}"
        );
    }
    if let Ok(StorageUrl::Redis { .. }) | Ok(StorageUrl::Sql { .. }) = got {
        if !got.as_ref().is_ok_and(|s| s.kind() == "sqlite") {
            assert!(shown.contains("***"), "{text:?}: {shown}");
        }
    }
}

/// The `Debug` of a storage, or the `Display` and `Debug` of an error.
fn show(result: &Result<StorageUrl, UrlError>) -> String {
    match result {
        Ok(s) => format!("{s:?}"),
        Err(e) => format!("{e}\n{e:?}"),
    }
}

/// How many times `needle` starts in `hay` (overlaps counted).
fn occurrences(hay: &str, needle: &str) -> usize {
    hay.char_indices()
        .filter(|(i, _)| hay[*i..].starts_with(needle))
        .count()
}

/// `%XX` decoded, then read as UTF-8 (lossily).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) if b[i + 1] != b'+' => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The number a text stands for if Rust's integer parsing takes it for an unsigned type of
/// `max`: an optional `+`, at least one ASCII digit, nothing else, at most `max`.
fn decimal(text: &str, max: u128) -> Option<u128> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .bytes()
        .try_fold(0u128, |n, b| {
            n.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        })
        .filter(|n| *n <= max)
}

/// What the module documentation says of a URL the `url` crate reads: the errors that apply
/// and, if none does, the storage (its driver URL aside).
struct Reference {
    pairs: Vec<(String, String)>,
    /// The names read so far.
    read: Vec<&'static str>,
    errors: Vec<UrlError>,
}

/// How a driver's URL must relate to the input.
enum Driver {
    None,
    /// The input's, with these parameters only.
    Rest(Vec<(String, String)>),
    /// SQLite: the input's host and path, nothing else.
    Location,
}

impl Reference {
    fn value(&mut self, name: &'static str) -> Option<String> {
        self.read.push(name);
        let (_, v) = self.pairs.iter().find(|(k, _)| k == name)?;
        Some(v.clone())
    }

    fn bad(&mut self, param: &'static str, value: String, expected: &str) {
        self.errors.push(UrlError::BadParam {
            param,
            value,
            expected: expected.to_owned(),
        });
    }

    /// An integer of at least `min` and at most `max`.
    fn int(&mut self, name: &'static str, min: u128, max: u128, expected: &str) -> Option<u128> {
        let value = self.value(name)?;
        match decimal(&value, max).filter(|n| *n >= min) {
            Some(n) => Some(n),
            None => {
                self.bad(name, value, expected);
                None
            }
        }
    }

    fn count(&mut self, name: &'static str, max: u128) -> Option<u128> {
        self.int(name, 1, max, "a positive integer")
    }

    fn millis(&mut self, name: &'static str) -> Option<Duration> {
        let n = self.count(name, u64::MAX.into())?;
        Some(Duration::from_millis(n as u64))
    }

    fn flag(&mut self, name: &'static str) -> Option<bool> {
        let value = self.value(name)?;
        match value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.bad(name, value, "true or false");
                None
            }
        }
    }

    /// `UnknownParam` for each name neither read nor in `passed`.
    fn unknown(&mut self, scheme: &str, passed: &[&str]) {
        for (k, _) in &self.pairs {
            if !self.read.contains(&k.as_str()) && !passed.contains(&k.as_str()) {
                self.errors.push(UrlError::UnknownParam {
                    scheme: scheme.to_owned(),
                    param: k.clone(),
                });
            }
        }
    }

    fn rest(&self) -> Vec<(String, String)> {
        let rest = self
            .pairs
            .iter()
            .filter(|(k, _)| !self.read.contains(&k.as_str()));
        rest.cloned().collect()
    }

    fn storage(&mut self, url: &Url) -> Option<(StorageUrl, Driver)> {
        for (i, (k, _)) in self.pairs.iter().enumerate() {
            if self.pairs[..i].iter().any(|(seen, _)| seen == k) {
                self.errors
                    .push(UrlError::DuplicateParam { param: k.clone() });
            }
        }
        let scheme = url.scheme();
        if url.fragment().is_some() && !matches!(scheme, "redis" | "rediss") {
            self.errors.push(UrlError::Fragment);
        }
        match scheme {
            "memory" => self.memory(url),
            "redis" | "rediss" => self.redis(),
            "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => self.sql(url),
            "file" => self.file(url),
            _ => {
                self.errors.push(UrlError::UnknownScheme {
                    scheme: scheme.to_owned(),
                });
                None
            }
        }
    }

    fn memory(&mut self, url: &Url) -> Option<(StorageUrl, Driver)> {
        let policy = match url.host_str().unwrap_or_default() {
            "lru" => Some(EvictionPolicy::Lru),
            "tlfu" => Some(EvictionPolicy::W_TINY_LFU),
            other => {
                self.errors.push(UrlError::UnknownPolicy {
                    policy: other.to_owned(),
                });
                None
            }
        };
        let given = self.pairs.iter().any(|(k, _)| k == "size");
        let size = self.count("size", usize::MAX as u128);
        if !given {
            self.errors.push(UrlError::MissingParam { param: "size" });
        }
        self.unknown("memory", &[]);
        Some((
            StorageUrl::Memory {
                policy: policy?,
                size: size? as usize,
            },
            Driver::None,
        ))
    }

    fn redis(&mut self) -> Option<(StorageUrl, Driver)> {
        let cluster = self.flag("cluster");
        let lazy = self.flag("lazy");
        if cluster == Some(true) && lazy == Some(true) {
            let expected = "false with cluster=true (a cluster connects at once)";
            self.bad("lazy", "true".into(), expected);
        }
        self.count("pool_size", u32::MAX.into());
        let mut options = RedisOptions::default();
        if let Some(t) = self.millis("connect_timeout_ms") {
            options.connect_timeout = t;
        }
        if let Some(t) = self.millis("timeout_ms") {
            options.response_timeout = t;
        }
        let storage = StorageUrl::Redis {
            url: String::new(),
            cluster: cluster.unwrap_or(false),
            lazy: lazy.unwrap_or(false),
            options,
        };
        Some((storage, Driver::Rest(self.rest())))
    }

    fn sql(&mut self, url: &Url) -> Option<(StorageUrl, Driver)> {
        let scheme = url.scheme();
        let sqlite = scheme == "sqlite";
        if sqlite {
            let host = url.host_str().unwrap_or_default();
            if matches!(format!("{host}{}", url.path()).as_str(), "" | "/") {
                self.errors.push(UrlError::MissingPath {
                    scheme: "sqlite".into(),
                });
            }
        }
        let table = match self.value("table") {
            None => TableName::new("cache").ok(),
            Some(value) => match TableName::new(&value) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.bad("table", value, &format!("a valid table name ({e})"));
                    None
                }
            },
        };
        let mut o = SqlOptions::default();
        o.pool_size = self.count("pool_size", u32::MAX.into()).unwrap_or(50) as u32;
        if let Some(t) = self.millis("connect_timeout_ms") {
            o.connect_timeout = t;
        }
        if let Some(t) = self.millis("acquire_timeout_ms") {
            o.acquire_timeout = t;
        }
        if sqlite {
            if let Some(t) = self.millis("busy_timeout_ms") {
                o.busy_timeout = t;
            }
        }
        if let Some(n) = self.int("sweep_every", 0, u32::MAX.into(), "an integer (0: never)") {
            o.sweep_every = n as u32;
        }
        if let Some(n) = self.count("sweep_batch", u32::MAX.into()) {
            o.sweep_batch = n as u32;
        }
        let (passed, driver) = if sqlite {
            (&[][..], Driver::Location)
        } else if scheme.starts_with("postgres") {
            (PG_PARAMS, Driver::Rest(self.rest()))
        } else {
            (MYSQL_PARAMS, Driver::Rest(self.rest()))
        };
        self.unknown(scheme, passed);
        let storage = StorageUrl::Sql {
            url: String::new(),
            table: table?,
            options: o,
        };
        Some((storage, driver))
    }

    fn file(&mut self, url: &Url) -> Option<(StorageUrl, Driver)> {
        let mut options = FileOptions::default();
        if let Some(n) = self.count("max_bytes", u64::MAX.into()) {
            options.max_bytes = Some(n as u64);
        }
        if let Some(value) = self.value("fsync") {
            match value.as_str() {
                "never" => options.fsync = Fsync::Never,
                "data" => options.fsync = Fsync::Data,
                "full" => options.fsync = Fsync::Full,
                _ => self.bad("fsync", value, "never, data or full"),
            }
        }
        let expected = "an integer (0: only when over max_bytes)";
        if let Some(n) = self.int("sweep_every", 0, u32::MAX.into(), expected) {
            options.sweep_every = n as u32;
        }
        self.unknown("file", &[]);
        let dir = url.to_file_path().ok().filter(|p| p.as_os_str().len() > 1);
        if dir.is_none() {
            self.errors.push(UrlError::MissingPath {
                scheme: "file".into(),
            });
        }
        Some((StorageUrl::File { dir: dir?, options }, Driver::None))
    }
}

/// The storage parsed from `text` is the reference's `expected`, its driver URL aside, and
/// `kind()` follows the scheme.
fn check_storage(text: &str, input: &Url, got: StorageUrl, expected: StorageUrl, driver: Driver) {
    let kind = match input.scheme() {
        "redis" | "rediss" => "redis",
        "postgresql" => "postgres",
        "mariadb" => "mysql",
        other => other,
    };
    assert_eq!(got.kind(), kind, "{text:?}: {got:?}");
    let (got_url, expected) = match (&got, expected) {
        (
            StorageUrl::Redis { url, .. },
            StorageUrl::Redis {
                cluster,
                lazy,
                options,
                ..
            },
        ) => (
            Some(url.as_str()),
            StorageUrl::Redis {
                url: url.clone(),
                cluster,
                lazy,
                options,
            },
        ),
        (StorageUrl::Sql { url, .. }, StorageUrl::Sql { table, options, .. }) => (
            Some(url.as_str()),
            StorageUrl::Sql {
                url: url.clone(),
                table,
                options,
            },
        ),
        (_, expected) => (None, expected),
    };
    assert_eq!(got, expected, "{text:?}");
    let Some(got_url) = got_url else { return };
    match driver {
        Driver::None => unreachable!("a storage with a driver URL"),
        // sqlx reads a SQLite URL as text: `sqlite://` or `sqlite:`, the file, `?` options.
        Driver::Location => {
            let file = got_url
                .strip_prefix("sqlite://")
                .or_else(|| got_url.strip_prefix("sqlite:"));
            let location = format!("{}{}", input.host_str().unwrap_or_default(), input.path());
            assert_eq!(file, Some(location.as_str()), "{text:?}: {got_url:?}");
        }
        Driver::Rest(rest) => {
            let out = Url::parse(got_url).unwrap_or_else(|e| {
                panic!("{text:?}: the driver's URL {got_url:?} does not parse: {e}")
            });
            let parts = |u: &Url| {
                let host = u.host_str().map(str::to_owned);
                let user = (u.username().to_owned(), u.password().map(str::to_owned));
                // Without its query, an opaque path (`postgresql:h ?…`) loses its trailing
                // spaces (the URL standard; a client reading the text would drop them too).
                let path = if u.cannot_be_a_base() {
                    u.path().trim_end_matches(' ')
                } else {
                    u.path()
                };
                let place = (host, u.port(), path.to_owned());
                (
                    u.scheme().to_owned(),
                    user,
                    place,
                    u.fragment().map(str::to_owned),
                )
            };
            assert_eq!(parts(&out), parts(input), "{text:?}: {got_url:?}");
            let pairs: Vec<(String, String)> = out.query_pairs().into_owned().collect();
            assert_eq!(pairs, rest, "{text:?}: {got_url:?}");
        }
    }
}
