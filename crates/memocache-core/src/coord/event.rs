//! The messages on a distributed cache's channel ([`Event`]): a lease released (its waiters in
//! every process look again), and the three invalidations. Binary, one kind byte first:
//! `R` + lease key; `K` + origin (u64 LE) + the key (JSON); `T` + origin + tags (u32 LE count,
//! then u32 LE length + UTF-8 each); `A` + origin.

use crate::tags::Tag;

/// One message. `origin` is the publishing instance's random id: an instance skips its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The lease of this key was released: its value (if the load succeeded) is in the tiers.
    Released(String),
    /// `invalidate` of one key (its JSON).
    Key { origin: u64, key: Vec<u8> },
    /// An invalidation by tags (full tag texts).
    Tags { origin: u64, tags: Vec<Tag> },
    /// `invalidate_all`.
    All { origin: u64 },
}

impl Event {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Event::Released(key) => {
                out.push(b'R');
                out.extend_from_slice(key.as_bytes());
            }
            Event::Key { origin, key } => {
                out.push(b'K');
                out.extend_from_slice(&origin.to_le_bytes());
                out.extend_from_slice(key);
            }
            Event::Tags { origin, tags } => {
                out.push(b'T');
                out.extend_from_slice(&origin.to_le_bytes());
                out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
                for tag in tags {
                    out.extend_from_slice(&(tag.as_str().len() as u32).to_le_bytes());
                    out.extend_from_slice(tag.as_str().as_bytes());
                }
            }
            Event::All { origin } => {
                out.push(b'A');
                out.extend_from_slice(&origin.to_le_bytes());
            }
        }
        out
    }

    /// The event of `bytes`, or `None` for anything else (ignored: another version's message,
    /// or noise on the channel).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Event> {
        let (&kind, rest) = bytes.split_first()?;
        if kind == b'R' {
            return Some(Event::Released(String::from_utf8(rest.to_vec()).ok()?));
        }
        let origin = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let mut rest = &rest[8..];
        match kind {
            b'K' => Some(Event::Key {
                origin,
                key: rest.to_vec(),
            }),
            b'A' if rest.is_empty() => Some(Event::All { origin }),
            b'T' => {
                let n = take_u32(&mut rest)?;
                let mut tags = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    let len = take_u32(&mut rest)? as usize;
                    let text = std::str::from_utf8(rest.get(..len)?).ok()?;
                    tags.push(Tag::from(text));
                    rest = &rest[len..];
                }
                rest.is_empty().then_some(Event::Tags { origin, tags })
            }
            _ => None,
        }
    }
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    *rest = &rest[4..];
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        let events = [
            Event::Released("{p:n:1:7}:lease".into()),
            Event::Key {
                origin: 7,
                key: b"[1,\"a\"]".to_vec(),
            },
            Event::Tags {
                origin: u64::MAX,
                tags: vec![Tag::from("zone:a:1"), Tag::from("")],
            },
            Event::All { origin: 1 },
        ];
        for e in events {
            let bytes = e.encode();
            assert_eq!(Event::decode(&bytes), Some(e.clone()));
            if !matches!(e, Event::Released(_) | Event::Key { .. }) {
                assert_eq!(Event::decode(&bytes[..bytes.len() - 1]), None);
            }
        }
        for garbage in [&b""[..], b"X", b"K123", b"A12345678x"] {
            assert_eq!(Event::decode(garbage), None);
        }
    }
}
