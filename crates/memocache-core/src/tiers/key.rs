//! Remote keys: the stable text form of a key value ([`CacheKey`]) and the namespace that
//! prefixes it ([`Namespace`]), giving `{prefix}:{name}:{version}:{key}`.
//!
//! A key stored in a shared server (Redis, SQL) must be the same in every process, build and
//! machine, so it is never derived from `Debug` output or from Rust's randomly seeded `Hash`.
//! [`CacheKey`] writes a documented canonical text instead:
//!
//! | key type | encoding | example |
//! |---|---|---|
//! | integers (`u8`…`u128`, `i8`…`i128`, `usize`, `isize`) | decimal | `-42` |
//! | `bool` | `true` / `false` | `true` |
//! | `char`, `str`, `String` | the text, with `%`-escapes (below); the empty string is `""` | `café`, `a%2Cb` for `a,b` |
//! | `Option<T>` | `~` for `None`, `!` then `T` for `Some` | `!7`, `~` |
//! | tuples `(A, B, …)` up to 8 and `()` | `(` items joined by `,` `)` | `(7,abc)` |
//! | `Vec<T>`, `[T]`, `[T; N]`, `VecDeque<T>` | `[` items joined by `,` `]` | `[1,2]` |
//! | `&T`, `Box<T>`, `Arc<T>`, `Rc<T>`, `Cow<T>` | as `T` | |
//!
//! In text, the characters `%` `,` `(` `)` `[` `]` `"` `~` `!` `#` `:` `*` `?` `\`, ASCII
//! control characters and the space are written as `%XX` (upper-case hex of the byte); all
//! other characters, non-ASCII included, are written as they are (UTF-8). So no encoded text
//! contains an unescaped separator, and the encoding of one key type is injective: two
//! different keys of the same type never share a remote key. (`*`, `?` and `\` are escaped so
//! a key never acts as a pattern in Redis `SCAN MATCH`.)
//!
//! An encoded key longer than [`Namespace::max_key_len`] bytes (default
//! [`DEFAULT_MAX_KEY_LEN`]) is replaced by `#` followed by the hex SHA-256 of its encoding,
//! which no plain encoding can start with. Changing the prefix, name or version makes every
//! old entry unreachable.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Encoded keys longer than this many bytes are replaced by their SHA-256 digest.
pub const DEFAULT_MAX_KEY_LEN: usize = 250;
/// The prefix used when none is given.
pub const DEFAULT_PREFIX: &str = "memocache";
/// The version used when none is given.
pub const DEFAULT_VERSION: &str = "1";

/// A key value with a stable, canonical text form, the same in every process (see the
/// [module documentation](self) for the encoding of each type).
///
/// Implement it for your own key types by writing their fields through the provided
/// implementations, for example as a tuple:
///
/// ```
/// # extern crate memocache_core as memocache;
/// use memocache::key::CacheKey;
///
/// struct UserKey { tenant: u32, user: String }
///
/// impl CacheKey for UserKey {
///     fn encode_key(&self, out: &mut String) {
///         (self.tenant, self.user.as_str()).encode_key(out)
///     }
/// }
///
/// let key = UserKey { tenant: 7, user: "ann".into() };
/// assert_eq!(key.to_key_string(), "(7,ann)");
/// ```
pub trait CacheKey {
    /// Appends the canonical text of `self` to `out`.
    fn encode_key(&self, out: &mut String);

    /// The canonical text of `self`.
    fn to_key_string(&self) -> String {
        let mut s = String::new();
        self.encode_key(&mut s);
        s
    }
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '%' | ',' | '(' | ')' | '[' | ']' | '"' | '~' | '!' | '#' | ':' | '*' | '?' | '\\' | ' '
    ) || c.is_ascii_control()
}

/// Appends `s` with the escapes of the module documentation.
fn encode_text(s: &str, out: &mut String) {
    if s.is_empty() {
        out.push_str("\"\"");
        return;
    }
    for c in s.chars() {
        if needs_escape(c) {
            // Every escaped character is ASCII: one byte.
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

impl CacheKey for str {
    fn encode_key(&self, out: &mut String) {
        encode_text(self, out)
    }
}

impl CacheKey for String {
    fn encode_key(&self, out: &mut String) {
        encode_text(self, out)
    }
}

impl CacheKey for char {
    fn encode_key(&self, out: &mut String) {
        encode_text(self.encode_utf8(&mut [0; 4]), out)
    }
}

impl CacheKey for bool {
    fn encode_key(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" })
    }
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl CacheKey for $t {
            fn encode_key(&self, out: &mut String) {
                let _ = write!(out, "{}", self);
            }
        }
    )*};
}
int_keys!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl<T: CacheKey + ?Sized> CacheKey for &T {
    fn encode_key(&self, out: &mut String) {
        (**self).encode_key(out)
    }
}

impl<T: CacheKey + ?Sized> CacheKey for Box<T> {
    fn encode_key(&self, out: &mut String) {
        (**self).encode_key(out)
    }
}

impl<T: CacheKey + ?Sized> CacheKey for Arc<T> {
    fn encode_key(&self, out: &mut String) {
        (**self).encode_key(out)
    }
}

impl<T: CacheKey + ?Sized> CacheKey for Rc<T> {
    fn encode_key(&self, out: &mut String) {
        (**self).encode_key(out)
    }
}

impl<T: CacheKey + ToOwned + ?Sized> CacheKey for Cow<'_, T> {
    fn encode_key(&self, out: &mut String) {
        (**self).encode_key(out)
    }
}

impl<T: CacheKey> CacheKey for Option<T> {
    fn encode_key(&self, out: &mut String) {
        match self {
            None => out.push('~'),
            Some(v) => {
                out.push('!');
                v.encode_key(out)
            }
        }
    }
}

fn encode_seq<'a, T: CacheKey + 'a>(items: impl Iterator<Item = &'a T>, out: &mut String) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        item.encode_key(out);
    }
    out.push(']');
}

impl<T: CacheKey> CacheKey for [T] {
    fn encode_key(&self, out: &mut String) {
        encode_seq(self.iter(), out)
    }
}

impl<T: CacheKey, const N: usize> CacheKey for [T; N] {
    fn encode_key(&self, out: &mut String) {
        encode_seq(self.iter(), out)
    }
}

impl<T: CacheKey> CacheKey for Vec<T> {
    fn encode_key(&self, out: &mut String) {
        encode_seq(self.iter(), out)
    }
}

impl<T: CacheKey> CacheKey for VecDeque<T> {
    fn encode_key(&self, out: &mut String) {
        encode_seq(self.iter(), out)
    }
}

impl CacheKey for () {
    fn encode_key(&self, out: &mut String) {
        out.push_str("()")
    }
}

macro_rules! tuple_keys {
    ($(($($n:tt $t:ident),+)),*) => {$(
        impl<$($t: CacheKey),+> CacheKey for ($($t,)+) {
            fn encode_key(&self, out: &mut String) {
                out.push('(');
                let mut _first = true;
                $(
                    if !_first { out.push(','); }
                    _first = false;
                    self.$n.encode_key(out);
                )+
                out.push(')');
            }
        }
    )*};
}
tuple_keys!(
    (0 A),
    (0 A, 1 B),
    (0 A, 1 B, 2 C),
    (0 A, 1 B, 2 C, 3 D),
    (0 A, 1 B, 2 C, 3 D, 4 E),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
);

/// Where a cache's entries live on a shared server: `{prefix}:{name}:{version}:`, followed
/// by the [`CacheKey`] encoding of each key — or, for a tier of a named cache or of a
/// memoized function, `{prefix}:{name}:{version}:{cache}:` ([`Namespace::cache`]: the cache
/// builder adds its cache's name), so that two caches sharing one namespace never share an
/// entry.
///
/// The name keeps two caches (two memoized functions) on one server apart; the prefix keeps
/// applications apart; bumping the version makes every old entry unreachable (for example
/// when the value type changes shape). Prefix, name and version are escaped like key text, so
/// none of them can contain the `:` separator.
///
/// ```
/// # extern crate memocache_core as memocache;
/// use memocache::key::Namespace;
///
/// let ns = Namespace::new("users").prefix("shop").version("3");
/// assert_eq!(ns.key(&42u64), "shop:users:3:42");
/// assert_eq!(ns.key(&("eu", 7)), "shop:users:3:(eu,7)");
/// assert_eq!(ns.key_prefix(), "shop:users:3:");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
    name: String,
    version: String,
    cache: Option<String>,
    max_key_len: usize,
    /// The version after the key (`{prefix}:{key}:{version}`), not before it.
    version_last: bool,
    head: String,
    tail: String,
}

impl Namespace {
    /// The namespace of the cache `name`, with the default prefix ([`DEFAULT_PREFIX`]) and
    /// version ([`DEFAULT_VERSION`]).
    pub fn new(name: impl Into<String>) -> Self {
        let mut ns = Namespace {
            prefix: DEFAULT_PREFIX.to_owned(),
            name: name.into(),
            version: DEFAULT_VERSION.to_owned(),
            cache: None,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            version_last: false,
            head: String::new(),
            tail: String::new(),
        };
        ns.rebuild();
        ns
    }

    /// cacheme's layout, used by typed nodes: `{prefix}:{key}:{version}`, with no name (the
    /// key text names its node type) and the version after the key.
    /// [`key_prefix`](Self::key_prefix) is then `{prefix}:`, shared by every node of the
    /// prefix, so a [`Serialized`](crate::storage::Serialized) storage over such a namespace
    /// refuses `clear` (a cache's `invalidate_all`) with an error; give nodes a prefix of
    /// their own.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use memocache::key::Namespace;
    ///
    /// let ns = Namespace::versioned_last("shop", "v2");
    /// assert_eq!(ns.key(&42u64), "shop:42:v2");
    /// ```
    pub fn versioned_last(prefix: impl Into<String>, version: impl Into<String>) -> Self {
        let mut ns = Namespace::new("").prefix(prefix).version(version);
        ns.version_last = true;
        ns.rebuild();
        ns
    }

    /// Sets the prefix (default [`DEFAULT_PREFIX`]).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self.rebuild();
        self
    }

    /// Sets the version (default [`DEFAULT_VERSION`]).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self.rebuild();
        self
    }

    /// The key space of one cache within the namespace: `{prefix}:{name}:{version}:{cache}:`.
    /// A cache with a name ([`CacheBuilder::name`](crate::CacheBuilder::name)), or a memoized
    /// function's (named by its path), sets it on its tiers' namespaces when it is built.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use memocache::key::Namespace;
    ///
    /// let ns = Namespace::new("shared").prefix("shop").cache("orders");
    /// assert_eq!(ns.key(&7u64), "shop:shared:1:orders:7");
    /// ```
    pub fn cache(mut self, cache: impl Into<String>) -> Self {
        self.cache = Some(cache.into());
        self.rebuild();
        self
    }

    /// Encoded keys longer than `bytes` are replaced by `#` and their hex SHA-256 (default
    /// [`DEFAULT_MAX_KEY_LEN`]; at least 65, the length of a digest key).
    pub fn max_key_len(mut self, bytes: usize) -> Self {
        self.max_key_len = bytes.max(65);
        self
    }

    fn rebuild(&mut self) {
        if self.version_last {
            let (mut head, mut tail) = (String::new(), String::from(":"));
            encode_text(&self.prefix, &mut head);
            head.push(':');
            if let Some(cache) = &self.cache {
                encode_text(cache, &mut head);
                head.push(':');
            }
            encode_text(&self.version, &mut tail);
            (self.head, self.tail) = (head, tail);
            return;
        }
        let mut head = String::new();
        let parts = [&self.prefix, &self.name, &self.version];
        for part in parts.into_iter().chain(self.cache.as_ref()) {
            encode_text(part, &mut head);
            head.push(':');
        }
        self.head = head;
    }

    /// Whether this is a [`versioned_last`](Self::versioned_last) namespace.
    pub fn is_versioned_last(&self) -> bool {
        self.version_last
    }

    /// `{prefix}:{name}:{version}:` (and `{cache}:`), the start of every key of this namespace.
    pub fn key_prefix(&self) -> &str {
        &self.head
    }

    /// The full remote key of `key`.
    pub fn key<Q: CacheKey + ?Sized>(&self, key: &Q) -> String {
        let mut out = String::with_capacity(self.head.len() + 16);
        out.push_str(&self.head);
        let start = out.len();
        key.encode_key(&mut out);
        if out.len() - start > self.max_key_len {
            let digest = Sha256::digest(&out.as_bytes()[start..]);
            out.truncate(start);
            out.push('#');
            for b in digest {
                let _ = write!(out, "{b:02x}");
            }
        }
        out.push_str(&self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_the_documented_ones() {
        assert_eq!(0u8.to_key_string(), "0");
        assert_eq!(i128::MIN.to_key_string(), i128::MIN.to_string());
        assert_eq!("a,b:c d%".to_key_string(), "a%2Cb%3Ac%20d%25");
        assert_eq!("".to_key_string(), "\"\"");
        assert_eq!("café".to_key_string(), "café");
        assert_eq!(Some(3u8).to_key_string(), "!3");
        assert_eq!(None::<u8>.to_key_string(), "~");
        assert_eq!(Some(None::<u8>).to_key_string(), "!~");
        assert_eq!((1u8, "x", true).to_key_string(), "(1,x,true)");
        assert_eq!(vec![String::new()].to_key_string(), "[\"\"]");
        assert_eq!(Vec::<String>::new().to_key_string(), "[]");
        assert_eq!(().to_key_string(), "()");
        assert_eq!(Arc::<str>::from("k").to_key_string(), "k");
    }

    #[test]
    fn same_type_keys_never_collide() {
        // Separators inside text are escaped, so tuples split unambiguously.
        assert_ne!(("a,b", "c").to_key_string(), ("a", "b,c").to_key_string());
        assert_ne!(vec!["a", "b"].to_key_string(), vec!["a,b"].to_key_string());
        assert_ne!(
            vec![String::new()].to_key_string(),
            Vec::<String>::new().to_key_string()
        );
        assert_ne!(Some("~").to_key_string(), None::<&str>.to_key_string());
    }

    #[test]
    fn long_keys_become_digests() {
        let ns = Namespace::new("n").max_key_len(70);
        let short = ns.key("x");
        assert_eq!(short, "memocache:n:1:x");
        let long = "y".repeat(71);
        let k = ns.key(long.as_str());
        assert_eq!(k.len(), "memocache:n:1:".len() + 65);
        assert!(k["memocache:n:1:".len()..].starts_with('#'));
        assert_eq!(k, ns.key(long.as_str()), "stable");
        assert_ne!(k, ns.key("y".repeat(72).as_str()));
        // A text starting with `#` is escaped, so it never looks like a digest.
        assert_eq!(ns.key("#a"), "memocache:n:1:%23a");
    }

    #[test]
    fn namespace_parts_are_escaped() {
        let ns = Namespace::new("a:b").prefix("p*").version("v 2");
        assert_eq!(ns.key_prefix(), "p%2A:a%3Ab:v%202:");
    }
}
