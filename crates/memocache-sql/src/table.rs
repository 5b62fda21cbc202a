//! [`TableName`]: the name of a store's table, validated once against the identifier rules
//! the three databases share, so that no statement ever interpolates an unchecked name.

use std::fmt;

/// The longest table name accepted: the index name derived from it (`{table}_expire_at`)
/// must stay within PostgreSQL's 63-byte identifiers.
pub const MAX_TABLE_NAME_LEN: usize = 48;

/// The table of a store when none is given (cacheme's examples use `cache`).
pub const DEFAULT_TABLE: &str = "cache";

/// A table name that is a valid, unquoted identifier in SQLite, PostgreSQL and MySQL alike:
/// an ASCII letter or `_`, then ASCII letters, digits or `_`, at most
/// [`MAX_TABLE_NAME_LEN`] bytes, and not SQLite's reserved `sqlite_` prefix.
///
/// Statements quote it as well (`"name"`, or `` `name` `` on MySQL), so a reserved word such
/// as `order` is a valid name; the quoting is a second line of defence, never the first.
///
/// ```
/// use memocache_sql::{TableName, TableNameError};
///
/// assert_eq!(TableName::new("cache").unwrap().as_str(), "cache");
/// assert!(matches!(
///     TableName::new("cache; DROP TABLE users"),
///     Err(TableNameError::BadCharacter { position: 5, .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

/// Why a table name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableNameError {
    /// The name is empty.
    #[error("the table name is empty")]
    Empty,
    /// The name is longer than [`MAX_TABLE_NAME_LEN`] bytes.
    #[error("the table name is {len} bytes long; at most {MAX_TABLE_NAME_LEN} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character other than an ASCII letter, digit or `_` (or a digit first).
    #[error("the table name has {character:?} at byte {position}: only ASCII letters, digits and `_` are allowed, and no digit first")]
    BadCharacter {
        /// The refused character.
        character: char,
        /// Its byte offset in the name.
        position: usize,
    },
    /// The name starts with `sqlite_`, which SQLite reserves for itself.
    #[error("table names starting with `sqlite_` are reserved by SQLite")]
    Reserved,
}

impl TableName {
    /// Validates `name`.
    ///
    /// # Errors
    /// A [`TableNameError`] saying what is wrong with it.
    pub fn new(name: &str) -> Result<Self, TableNameError> {
        if name.is_empty() {
            return Err(TableNameError::Empty);
        }
        if name.len() > MAX_TABLE_NAME_LEN {
            return Err(TableNameError::TooLong { len: name.len() });
        }
        for (position, character) in name.char_indices() {
            let ok = character == '_'
                || character.is_ascii_alphabetic()
                || (position > 0 && character.is_ascii_digit());
            if !ok {
                return Err(TableNameError::BadCharacter {
                    character,
                    position,
                });
            }
        }
        if name.to_ascii_lowercase().starts_with("sqlite_") {
            return Err(TableNameError::Reserved);
        }
        Ok(TableName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TableName {
    /// [`DEFAULT_TABLE`].
    fn default() -> Self {
        TableName(DEFAULT_TABLE.to_owned())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TableName {
    type Err = TableNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TableName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_identifiers_and_refuses_everything_else() {
        for ok in [
            "cache",
            "_c",
            "Cache_2",
            "order",
            &"a".repeat(MAX_TABLE_NAME_LEN),
        ] {
            assert_eq!(TableName::new(ok).unwrap().as_str(), ok);
        }
        let bad = |s: &str| TableName::new(s).unwrap_err();
        assert_eq!(bad(""), TableNameError::Empty);
        assert_eq!(
            bad(&"a".repeat(MAX_TABLE_NAME_LEN + 1)),
            TableNameError::TooLong {
                len: MAX_TABLE_NAME_LEN + 1
            }
        );
        for (name, character, position) in [
            ("1cache", '1', 0),
            ("cache\"; DROP TABLE x; --", '"', 5),
            ("ca`che", '`', 2),
            ("a b", ' ', 1),
            ("a.b", '.', 1),
            ("a-b", '-', 1),
            ("tablé", 'é', 4),
            ("a\0", '\0', 1),
            ("x'y", '\'', 1),
        ] {
            assert_eq!(
                bad(name),
                TableNameError::BadCharacter {
                    character,
                    position
                },
                "{name:?}"
            );
        }
        assert_eq!(bad("sqlite_master"), TableNameError::Reserved);
        assert_eq!(bad("SQLITE_x"), TableNameError::Reserved);
    }
}
