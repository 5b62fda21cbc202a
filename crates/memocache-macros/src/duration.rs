//! Duration strings of the options (`"10m"`, `"200ms"`, `"1h30m"`), parsed at compile time.

use std::time::Duration;

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Parses a sequence of `<integer><unit>` parts, units in decreasing order, each at most once:
/// `d`, `h`, `m`, `s`, `ms`, `us`, `ns`. Returns a message saying what is wrong otherwise.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let help = "write a duration such as \"200ms\", \"30s\", \"10m\", \"2h\" or \"1h30m\" \
                (units d, h, m, s, ms, us, ns, largest first)";
    if text.is_empty() {
        return Err(format!("empty duration: {help}"));
    }
    let mut rest = text;
    let mut total: u128 = 0;
    // Index in UNITS of the last unit used: the next one must be smaller.
    let mut last: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` is not a duration: {help}"));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(match (unit.is_empty(), rest.is_empty()) {
                (true, true) => format!("`{text}` needs a unit after {number}: {help}"),
                (true, false) => format!("`{text}` is not a duration: {help}"),
                (false, _) => format!("`{text}`: unknown unit `{unit}`: {help}"),
            });
        };
        if last.is_some_and(|l| l >= index) {
            return Err(format!(
                "`{text}`: units must go from the largest to the smallest, each once: {help}"
            ));
        }
        last = Some(index);
        total = number
            .checked_mul(UNITS[index].1)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| format!("`{text}` is too long a duration"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `d` written the way [`parse`] reads it: `1h30m`, `200ms`, `0s`.
pub(crate) fn display(d: Duration) -> String {
    let mut nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if nanos >= size {
            out.push_str(&format!("{}{unit}", nanos / size));
            nanos %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{display, parse};
    use std::time::Duration;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("1500us"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "", "10", "m", "10 m", "ten", "10min", "5x", "1m1h", "1s1s", "-1s", "1.5s", "s10",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse("99999999999999999999999999999999999999999d").is_err());
        assert!(parse("999999999999999999d").is_err());
    }

    #[test]
    fn display_reads_back() {
        for text in ["1h30m", "200ms", "0s", "1d2h3m4s5ms6us7ns", "10m"] {
            assert_eq!(display(parse(text).unwrap()), text);
        }
    }

    #[test]
    fn messages_name_the_problem() {
        assert!(parse("10 minutes")
            .unwrap_err()
            .contains("is not a duration"));
        assert!(parse("10").unwrap_err().contains("needs a unit"));
        assert!(parse("10min").unwrap_err().contains("unknown unit `min`"));
        assert!(parse("1m1h")
            .unwrap_err()
            .contains("largest to the smallest"));
    }
}
