//! Target `duration`: the `#[memoize]` duration parser (`memocache-macros/src/duration.rs`,
//! compiled into this crate from its source file) and its canonical writer `display`.
//!
//! Input: byte 0 even: the rest is a text (UTF-8, or lossily converted), parsed; odd: the rest
//! feeds `arbitrary` for a `Duration` (whole range), written then parsed, and for a text
//! built of `<digits><unit>` parts (numbers up to 60 digits, units in any order) so the
//! grammar's edges are reached often.
//!
//! Checked, beyond "no panic":
//! - `parse` agrees with an independent reader of the documented grammar (parts
//!   `<ascii digits><unit>`, units `d h m s ms us ns` strictly largest first, each once) that
//!   adds with `Duration`'s checked arithmetic: same accepted texts, same value, and a total
//!   beyond `Duration::MAX` (or a number beyond any integer) an error, never a wrapped value;
//! - an error has a message;
//! - `display` of a parsed (or any) duration parses back to it and is canonical
//!   (`display(parse(display(d))) == display(d)`, and `display(d) == text` when `text` is
//!   the shortest form: no leading zeros, no zero parts, largest units).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::duration::{display, parse};

const UNITS: [&str; 7] = ["d", "h", "m", "s", "ms", "us", "ns"];

/// Seconds (for `d h m s`) or nanoseconds per second (for `ms us ns`) of each unit.
fn part(number: &str, unit: usize) -> Option<Duration> {
    let number = number.trim_start_matches('0');
    // Beyond 39 digits a number exceeds u128 and any duration.
    if number.len() > 39 {
        return None;
    }
    let n: u128 = if number.is_empty() {
        0
    } else {
        number.parse().ok()?
    };
    match unit {
        0..=3 => {
            let per = [86_400u32, 3_600, 60, 1][unit];
            Duration::from_secs(u64::try_from(n).ok()?).checked_mul(per)
        }
        _ => {
            let per_sec: u128 = [1_000, 1_000_000, 1_000_000_000][unit - 4];
            let secs = u64::try_from(n / per_sec).ok()?;
            let sub = (n % per_sec) as u32 * (1_000_000_000 / per_sec as u32);
            Some(Duration::new(secs, sub))
        }
    }
}

/// The `(number, unit index)` parts of a text of the documented grammar: at least one part,
/// each ASCII digits then a unit, units strictly largest first; `None` for any other text.
fn parts(text: &str) -> Option<Vec<(&str, usize)>> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let letters = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        let index = UNITS.iter().position(|u| *u == unit)?;
        if number.is_empty() || out.last().is_some_and(|&(_, l)| l >= index) {
            return None;
        }
        out.push((number, index));
        rest = after;
    }
    (!out.is_empty()).then_some(out)
}

/// The reference: `Ok(Some(d))` for a valid text, `Ok(None)` for a valid text whose total
/// overflows, `Err(())` for a text outside the grammar.
fn reference(text: &str) -> Result<Option<Duration>, ()> {
    let parts = parts(text).ok_or(())?;
    Ok(parts
        .iter()
        .try_fold(Duration::ZERO, |total, &(number, unit)| {
            total.checked_add(part(number, unit)?)
        }))
}

/// The target.
pub fn run(data: &[u8]) {
    let [mode, rest @ ..] = data else { return };
    if mode % 2 == 0 {
        check_text(&String::from_utf8_lossy(rest));
    } else {
        let mut u = Unstructured::new(rest);
        if let Ok(d) = Duration::arbitrary(&mut u) {
            check_duration(d);
        }
        if let Ok(text) = built_text(&mut u) {
            check_text(&text);
        }
    }
}

fn check_text(text: &str) {
    let parsed = parse(text);
    match (&parsed, reference(text)) {
        (Ok(d), Ok(Some(expected))) => {
            assert_eq!(*d, expected, "{text:?}");
            check_duration(*d);
            if is_shortest(text) {
                assert_eq!(display(*d), text);
            }
        }
        (Err(msg), Ok(None) | Err(())) => assert!(!msg.is_empty()),
        (got, expected) => panic!("{text:?}: parsed {got:?}, the grammar says {expected:?}"),
    }
}

/// `display(d)` parses back to `d` and is a fixed point.
fn check_duration(d: Duration) {
    let text = display(d);
    assert_eq!(parse(&text), Ok(d), "{d:?} written {text:?}");
    assert!(is_shortest(&text) || text == "0s", "{text:?}");
}

/// A valid text in shortest form: no leading zero, no zero part, no part that a larger unit
/// could take (`60s`, `1000ms`).
fn is_shortest(text: &str) -> bool {
    parts(text).is_some_and(|parts| {
        parts.iter().all(|&(number, unit)| {
            // The number a part may have before the next larger unit takes it (none for `d`).
            let cap: u128 = [u128::MAX, 24, 60, 60, 1_000, 1_000, 1_000][unit];
            !number.starts_with('0') && number.parse::<u128>().is_ok_and(|n| n < cap)
        })
    })
}

/// `<digits><unit>` parts: numbers of up to 60 digits, sometimes with leading zeros, units
/// in any order (so out-of-order, repeated and overflowing texts are frequent).
fn built_text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let mut text = String::new();
    for _ in 0..u.int_in_range(1..=4)? {
        let digits = u.int_in_range(0..=60)?;
        for _ in 0..digits {
            text.push(char::from(b'0' + u.int_in_range(0..=9)?));
        }
        let unit = u.int_in_range(0..=7)?;
        text.push_str(UNITS.get(unit).copied().unwrap_or("x"));
    }
    Ok(text)
}
