//! A row's column values made domain types: a value that does not convert makes the row corrupt,
//! and the error names the column, so an operator knows what to look at.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;

use super::{corrupt, StoreError};

/// Text of `column` parsed into its type.
pub(super) fn parsed<T>(column: &str, text: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse().map_err(|e| corrupt(format!("column {column} `{text}`: {e}")))
}

/// Nullable text of `column` parsed into its type.
pub(super) fn parsed_opt<T>(column: &str, text: Option<&str>) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    text.map(|text| parsed(column, text)).transpose()
}

/// An integer of `column` narrowed into the unsigned type the domain counts in.
pub(super) fn unsigned<T>(column: &str, value: i64) -> Result<T, StoreError>
where
    T: TryFrom<i64>,
    T::Error: Display,
{
    T::try_from(value).map_err(|e| corrupt(format!("column {column} {value}: {e}")))
}

/// JSON text of `column` decoded into its type.
pub(super) fn json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("column {column} `{text}`: {e}")))
}
