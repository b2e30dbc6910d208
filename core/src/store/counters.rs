//! Gapless counters. Bumping one locks its row until the transaction ends, so values are handed
//! out in commit order: a reader that saw value n has seen every commit that took a value below n.

use super::{StoreError, Tx};

pub(crate) const DERIVATION_INDEX: &str = "derivation_index";
pub(crate) const WATCH_SEQ: &str = "watch_seq";

/// Takes the counter's next value.
pub(crate) async fn next(tx: &mut Tx, name: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value - 1")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?)
}
