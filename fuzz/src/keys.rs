//! Target `remote_key`: `CacheKey` and `Namespace` of memocache-core over strings, chars,
//! integers, booleans, options, tuples, vectors, arrays, deques and smart pointers of them.
//!
//! Input: byte 0 picks the key type; the rest feeds `arbitrary` (two keys of that type, two
//! namespaces, a key length limit). Texts are drawn half the time from `arbitrary` (any
//! Unicode, control characters included) and half the time from tokens made to collide
//! (`,`, `%`, `%2C`, `:`, `""`, `~`, `!`, brackets...).
//!
//! Checked, against the encoding table of `memocache_core::key`'s documentation:
//! - stable: the same value gives the same text; `encode_key` appends to what is there;
//! - the text reads back to the value with an independent reader of the documented grammar
//!   ([`Key::read`], strict: only canonical escapes), so the encoding is injective; and two
//!   drawn keys have equal texts exactly when they are equal;
//! - no text holds `:`, `*`, `?`, `\`, `#`, a space or an ASCII control character;
//! - `&T`, `Box`, `Arc`, `Rc`, `Cow` write as `T`; `Vec`, slices, arrays and `VecDeque` alike;
//! - `Namespace::key` is the namespace's prefix (`{prefix}:{name}:{version}:`, parts escaped
//!   and read back) then the text, or, past `max_key_len` (at least 65), `#` and the hex
//!   SHA-256 of the text: never longer than the limit, exactly three `:`, and two namespaces
//!   share a prefix exactly when their parts are equal.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use arbitrary::{Arbitrary, Result, Unstructured};
use memocache_core::key::{CacheKey, Namespace, DEFAULT_MAX_KEY_LEN};
use sha2::{Digest, Sha256};

/// Text tokens that make the separators, escapes and empty forms collide if they can.
pub const TOKENS: &[&str] = &[
    "a", "b", "", ",", "%", "%2C", "%25", "(", ")", "[", "]", "\"", "\"\"", "~", "!", "#", ":",
    "*", "?", "\\", " ", "\0", "\n", "\x7f", "é", "\u{85}", "\u{2028}", "true", "-1", "0", "!~",
    "()", "[]", "a,b",
];

/// Characters written as `%XX`, from the module documentation of `memocache_core::key`.
fn escaped(c: char) -> bool {
    "%,()[]\"~!#:*?\\ ".contains(c) || c.is_ascii_control()
}

/// A cursor over a key text, for [`Key::read`].
pub struct Reader<'a> {
    rest: &'a str,
}

impl<'a> Reader<'a> {
    fn eat(&mut self, s: &str) -> bool {
        match self.rest.strip_prefix(s) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) {
        let mut it = self.rest.chars();
        it.next();
        self.rest = it.as_str();
    }

    /// Text: `""`, or at least one character, `%XX` for the escaped ones, up to a separator.
    fn text(&mut self) -> Option<String> {
        if self.eat("\"\"") {
            return Some(String::new());
        }
        let mut s = String::new();
        while let Some(c) = self.peek() {
            match c {
                ',' | ')' | ']' | ':' => break,
                '%' => {
                    let hex = self.rest.get(1..3)?;
                    if hex.bytes().any(|b| b.is_ascii_lowercase()) {
                        return None;
                    }
                    let byte = u8::from_str_radix(hex, 16).ok()?;
                    let c = char::from(byte);
                    // Only escaped characters are written as `%XX`, each one way.
                    if !byte.is_ascii() || !escaped(c) {
                        return None;
                    }
                    s.push(c);
                    self.rest = &self.rest[3..];
                }
                c if escaped(c) => return None,
                c => {
                    s.push(c);
                    self.bump();
                }
            }
        }
        (!s.is_empty()).then_some(s)
    }

    fn number<T: FromStr + ToString>(&mut self) -> Option<T> {
        let len = self
            .rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'-')
            .count();
        let (digits, rest) = self.rest.split_at(len);
        let n: T = digits.parse().ok()?;
        // Canonical decimal only.
        (n.to_string() == digits).then(|| {
            self.rest = rest;
            n
        })
    }

    fn seq<T: Key>(&mut self) -> Option<Vec<T>> {
        if !self.eat("[") {
            return None;
        }
        let mut items = Vec::new();
        if self.eat("]") {
            return Some(items);
        }
        loop {
            items.push(T::read(self)?);
            if self.eat("]") {
                return Some(items);
            }
            if !self.eat(",") {
                return None;
            }
        }
    }
}

/// A key type the target draws and reads back.
pub trait Key: CacheKey + PartialEq + Debug + Sized {
    /// A value, from the fuzzer's bytes.
    fn draw(u: &mut Unstructured<'_>) -> Result<Self>;
    /// The value whose text starts the reader's input, consuming that text.
    fn read(r: &mut Reader<'_>) -> Option<Self>;
}

/// A text from `arbitrary` or from [`TOKENS`].
pub fn draw_text(u: &mut Unstructured<'_>) -> Result<String> {
    if u.arbitrary()? {
        return String::arbitrary(u);
    }
    let n = u.int_in_range(0..=5)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(u.choose(TOKENS)?);
    }
    Ok(s)
}

impl Key for String {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        draw_text(u)
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.text()
    }
}

impl Key for char {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        if u.arbitrary()? {
            char::arbitrary(u)
        } else {
            Ok(u.choose(TOKENS)?.chars().next().unwrap_or('%'))
        }
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let s = r.text()?;
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }
}

impl Key for bool {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        u.arbitrary()
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        if r.eat("true") {
            Some(true)
        } else if r.eat("false") {
            Some(false)
        } else {
            None
        }
    }
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
                u.arbitrary()
            }
            fn read(r: &mut Reader<'_>) -> Option<Self> {
                r.number()
            }
        }
    )*};
}
int_keys!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl Key for () {
    fn draw(_: &mut Unstructured<'_>) -> Result<Self> {
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.eat("()").then_some(())
    }
}

impl<T: Key> Key for Option<T> {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(if u.arbitrary()? {
            Some(T::draw(u)?)
        } else {
            None
        })
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        if r.eat("~") {
            Some(None)
        } else if r.eat("!") {
            Some(Some(T::read(r)?))
        } else {
            None
        }
    }
}

fn draw_items<T: Key>(u: &mut Unstructured<'_>) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=5)?;
    (0..n).map(|_| T::draw(u)).collect()
}

impl<T: Key> Key for Vec<T> {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        draw_items(u)
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.seq()
    }
}

impl<T: Key> Key for VecDeque<T> {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(draw_items(u)?.into())
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(r.seq()?.into())
    }
}

impl<T: Key, const N: usize> Key for [T; N] {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        let items = (0..N).map(|_| T::draw(u)).collect::<Result<Vec<T>>>()?;
        Ok(items.try_into().unwrap_or_else(|_| unreachable!()))
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.seq()?.try_into().ok()
    }
}

impl<T: Key> Key for Box<T> {
    fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(Box::new(T::draw(u)?))
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(Box::new(T::read(r)?))
    }
}

macro_rules! str_keys {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
                Ok(draw_text(u)?.into())
            }
            fn read(r: &mut Reader<'_>) -> Option<Self> {
                Some(r.text()?.into())
            }
        }
    )*};
}
str_keys!(Box<str>, Arc<str>, Rc<str>, Cow<'static, str>);

macro_rules! tuple_keys {
    ($(($($t:ident),+)),*) => {$(
        impl<$($t: Key),+> Key for ($($t,)+) {
            fn draw(u: &mut Unstructured<'_>) -> Result<Self> {
                Ok(($($t::draw(u)?,)+))
            }
            #[allow(unused_assignments)]
            fn read(r: &mut Reader<'_>) -> Option<Self> {
                if !r.eat("(") {
                    return None;
                }
                let mut first = true;
                let v = ($(
                    {
                        if !first && !r.eat(",") {
                            return None;
                        }
                        first = false;
                        $t::read(r)?
                    },
                )+);
                r.eat(")").then_some(v)
            }
        }
    )*};
}
tuple_keys!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H)
);

/// The value whose text is exactly `text`.
pub fn read_all<K: Key>(text: &str) -> Option<K> {
    let mut r = Reader { rest: text };
    let v = K::read(&mut r)?;
    r.rest.is_empty().then_some(v)
}

/// Values of byte 0: 23 key types, the "written as `T`" checks, the namespace checks.
pub const KEY_TYPES: u8 = 25;

/// The target.
pub fn run(data: &[u8]) {
    let [ty, rest @ ..] = data else { return };
    let mut u = Unstructured::new(rest);
    let _ = match ty % KEY_TYPES {
        0 => check::<String>(&mut u),
        1 => check::<char>(&mut u),
        2 => check::<Option<String>>(&mut u),
        3 => check::<Option<Option<String>>>(&mut u),
        4 => check::<(String,)>(&mut u),
        5 => check::<(String, String)>(&mut u),
        6 => check::<(String, Option<u32>, bool)>(&mut u),
        7 => check::<Vec<String>>(&mut u),
        8 => check::<Vec<Vec<String>>>(&mut u),
        9 => check::<Vec<Option<String>>>(&mut u),
        10 => check::<(i128, u128, i8, isize)>(&mut u),
        11 => check::<[String; 3]>(&mut u),
        12 => check::<VecDeque<Option<String>>>(&mut u),
        13 => check::<Box<str>>(&mut u),
        14 => check::<Arc<str>>(&mut u),
        15 => check::<Rc<str>>(&mut u),
        16 => check::<()>(&mut u),
        17 => check::<(u8, (String, Vec<u16>), Option<()>)>(&mut u),
        18 => check::<(u8, u16, u32, u64, usize, i16, i32, i64)>(&mut u),
        19 => check::<Vec<(String, Option<String>)>>(&mut u),
        20 => check::<Cow<'static, str>>(&mut u),
        21 => check::<Option<Vec<Option<String>>>>(&mut u),
        22 => check::<Vec<bool>>(&mut u),
        23 => check_same_as_t(&mut u),
        _ => check_namespaces(&mut u),
    };
}

/// When set, [`run`] prints the keys it draws (for `cargo run --example seeds -- --show`).
pub static SHOW: AtomicBool = AtomicBool::new(false);

fn check<K: Key>(u: &mut Unstructured<'_>) -> Result<()> {
    let a = K::draw(u)?;
    let b = K::draw(u)?;
    if SHOW.load(Relaxed) {
        println!(
            "  {a:?} -> {}\n  {b:?} -> {}",
            a.to_key_string(),
            b.to_key_string()
        );
    }
    let (ns, limit) = namespace(u)?;
    let text = text_of(&a);
    let other = text_of(&b);
    assert_eq!(
        text == other,
        a == b,
        "{a:?} and {b:?} give {text:?} and {other:?}"
    );
    check_key(&ns, limit, &a, &text);
    if limit < 1024 && u.arbitrary()? {
        probe_limit(&ns, limit);
    }
    let (ka, kb) = (ns.key(&a), ns.key(&b));
    assert_eq!(ka == kb, a == b, "{a:?} and {b:?} give {ka:?} and {kb:?}");
    Ok(())
}

/// The text of `a`, checked to be stable, appended, free of separators and readable back.
fn text_of<K: Key>(a: &K) -> String {
    let text = a.to_key_string();
    assert_eq!(text, a.to_key_string(), "stable");
    let mut out = String::from("x:");
    a.encode_key(&mut out);
    assert_eq!(out.strip_prefix("x:"), Some(text.as_str()), "appends");
    assert!(
        !text
            .chars()
            .any(|c| matches!(c, ':' | '*' | '?' | '\\' | '#' | ' ') || c.is_ascii_control()),
        "{a:?} gives {text:?}"
    );
    match read_all::<K>(&text) {
        Some(back) => assert_eq!(&back, a, "{text:?} reads back as another value"),
        None => panic!("{text:?} (the text of {a:?}) is not in the documented grammar"),
    }
    text
}

/// A namespace, with the key length limit it must apply: the one given, at least 65.
fn namespace(u: &mut Unstructured<'_>) -> Result<(Namespace, usize)> {
    let ns = Namespace::new(draw_text(u)?);
    let ns = if u.arbitrary()? {
        ns.prefix(draw_text(u)?)
    } else {
        ns
    };
    let ns = if u.arbitrary()? {
        ns.version(draw_text(u)?)
    } else {
        ns
    };
    let given = match u.int_in_range(0..=3)? {
        0 => return Ok((ns, DEFAULT_MAX_KEY_LEN)),
        1 => u.int_in_range(0..=80)?,
        2 => u.arbitrary()?,
        _ => u.int_in_range(60..=300)?,
    };
    Ok((ns.max_key_len(given), given.max(65)))
}

/// `Namespace::key(key)` is the prefix then `text` or, past `limit`, its digest.
fn check_key<Q: CacheKey + ?Sized>(ns: &Namespace, limit: usize, key: &Q, text: &str) {
    let full = ns.key(key);
    let head = ns.key_prefix();
    assert_eq!(head.matches(':').count(), 3, "{head:?}");
    assert!(head.ends_with(':'));
    let part = full
        .strip_prefix(head)
        .unwrap_or_else(|| panic!("{full:?} does not start with {head:?}"));
    assert!(!part.contains(':'), "{full:?}");
    if text.len() <= limit {
        assert_eq!(part, text);
    } else {
        let digest: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(part, format!("#{digest}"), "the digest of {text:?}");
    }
    assert!(part.len() <= limit, "{} bytes over {limit}", part.len());
    assert_eq!(full, ns.key(key), "stable");
}

/// Checks that `limit` is the longest text the namespace keeps as it is (a
/// text of `n` letters has `n` bytes).
fn probe_limit(ns: &Namespace, limit: usize) {
    let at = "a".repeat(limit);
    assert_eq!(ns.key(at.as_str()), format!("{}{at}", ns.key_prefix()));
    let over = "a".repeat(limit + 1);
    assert!(ns.key(over.as_str())[ns.key_prefix().len()..].starts_with('#'));
}

/// `&T`, `Box`, `Arc`, `Rc`, `Cow` write as `T`; vectors, slices, arrays, deques alike.
fn check_same_as_t(u: &mut Unstructured<'_>) -> Result<()> {
    let s = draw_text(u)?;
    let t = s.to_key_string();
    assert_eq!(s.as_str().to_key_string(), t);
    assert_eq!(<&String as CacheKey>::to_key_string(&&s), t);
    assert_eq!(Box::<str>::from(s.as_str()).to_key_string(), t);
    assert_eq!(Arc::<str>::from(s.as_str()).to_key_string(), t);
    assert_eq!(Rc::<str>::from(s.as_str()).to_key_string(), t);
    assert_eq!(Cow::Borrowed(s.as_str()).to_key_string(), t);
    assert_eq!(Box::new(s.clone()).to_key_string(), t);
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        assert_eq!(c.to_key_string(), t);
    }
    let v: Vec<String> = draw_items(u)?;
    let t = v.to_key_string();
    assert_eq!(v.as_slice().to_key_string(), t);
    assert_eq!(VecDeque::from(v.clone()).to_key_string(), t);
    assert_eq!(Arc::new(v.clone()).to_key_string(), t);
    if let Ok(array) = <[String; 2]>::try_from(v.clone()) {
        assert_eq!(array.to_key_string(), t);
    }
    let (ns, limit) = namespace(u)?;
    check_key(&ns, limit, v.as_slice(), &t);
    check_key(&ns, limit, s.as_str(), &s.to_key_string());
    Ok(())
}

/// Two namespaces share a prefix exactly when their parts are equal; the parts read back.
fn check_namespaces(u: &mut Unstructured<'_>) -> Result<()> {
    let parts = |u: &mut Unstructured<'_>| -> Result<[String; 3]> {
        Ok([draw_text(u)?, draw_text(u)?, draw_text(u)?])
    };
    let a = parts(u)?;
    let b = if u.arbitrary()? { a.clone() } else { parts(u)? };
    let head = |[p, n, v]: &[String; 3]| {
        Namespace::new(n.as_str())
            .prefix(p.as_str())
            .version(v.as_str())
            .key_prefix()
            .to_owned()
    };
    let (ha, hb) = (head(&a), head(&b));
    assert_eq!(ha == hb, a == b, "{a:?} and {b:?} give {ha:?} and {hb:?}");
    let mut r = Reader { rest: &ha };
    for part in &a {
        assert_eq!(r.text().as_ref(), Some(part), "{ha:?}");
        assert!(r.eat(":"), "{ha:?}");
    }
    assert!(r.rest.is_empty(), "{ha:?}");
    let default = Namespace::new(a[1].as_str());
    assert_eq!(
        default.key_prefix(),
        format!("memocache:{}:1:", a[1].to_key_string())
    );
    Ok(())
}
