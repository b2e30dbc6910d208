//! Each chain follower's checkpoint, and the hashes of the blocks it processed.

use alloy::primitives::B256;
use sqlx::FromRow;

use super::column::{parsed, unsigned};
use super::{corrupt, Store, StoreError, Tx};
use crate::ChainId;

/// The last block a follower processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub number: u64,
    pub hash: B256,
}

/// A block as `chain_cursors` and `block_hashes` both hold it.
#[derive(Debug, FromRow)]
struct BlockRow {
    block_number: i64,
    block_hash: String,
}

impl TryFrom<BlockRow> for Checkpoint {
    type Error = StoreError;

    fn try_from(row: BlockRow) -> Result<Self, StoreError> {
        Ok(Checkpoint {
            number: unsigned("block_number", row.block_number)?,
            hash: parsed("block_hash", &row.block_hash)?,
        })
    }
}

/// Blocks whose hashes are kept behind the cursor; deeper history is pruned, so no unwind can
/// search further back.
pub const KEEP_HASHES: u64 = 10_000;

impl Store {
    pub async fn checkpoint(&self, chain_id: ChainId) -> Result<Option<Checkpoint>, StoreError> {
        let row =
            sqlx::query_as::<_, BlockRow>("SELECT block_number, block_hash FROM chain_cursors WHERE chain_id = $1")
                .bind(chain_id.as_i64())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Checkpoint::try_from).transpose()
    }

    /// Moves the cursor and keeps the hash of the block it now points at. The block's timestamp
    /// is unknown until [`Store::save_cursor_time`] says it (a rewind forgets it).
    pub async fn save_checkpoint(
        &self,
        tx: &mut Tx,
        chain_id: ChainId,
        checkpoint: Checkpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        let number = i64::try_from(checkpoint.number).map_err(corrupt)?;
        let hash = format!("{:#x}", checkpoint.hash);
        sqlx::query(
            "INSERT INTO chain_cursors (chain_id, block_number, block_hash, updated_at, block_timestamp) \
             VALUES ($1, $2, $3, $4, NULL) \
             ON CONFLICT (chain_id) DO UPDATE SET block_number = $2, block_hash = $3, updated_at = $4, \
             block_timestamp = NULL",
        )
        .bind(chain_id.as_i64())
        .bind(number)
        .bind(&hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        self.save_block_hash(tx, chain_id, checkpoint).await?;
        sqlx::query("DELETE FROM block_hashes WHERE chain_id = $1 AND block_number < $2")
            .bind(chain_id.as_i64())
            .bind(number - KEEP_HASHES as i64)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The timestamp (Unix seconds) of the block the cursor points at, in the transaction that
    /// moved it there: everything up to that time has been scanned.
    pub async fn save_cursor_time(&self, tx: &mut Tx, chain_id: ChainId, timestamp: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE chain_cursors SET block_timestamp = $2 WHERE chain_id = $1")
            .bind(chain_id.as_i64())
            .bind(i64::try_from(timestamp).map_err(corrupt)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Keeps a processed block's hash (a reorg is found by comparing them with the chain's).
    pub async fn save_block_hash(&self, tx: &mut Tx, chain_id: ChainId, block: Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO block_hashes (chain_id, block_number, block_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (chain_id, block_number) DO UPDATE SET block_hash = $3",
        )
        .bind(chain_id.as_i64())
        .bind(i64::try_from(block.number).map_err(corrupt)?)
        .bind(format!("{:#x}", block.hash))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Kept block hashes from `at_most` down to `at_least`, newest first.
    pub async fn block_hashes_down(
        &self,
        chain_id: ChainId,
        at_most: u64,
        at_least: u64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query_as::<_, BlockRow>(
            "SELECT block_number, block_hash FROM block_hashes WHERE chain_id = $1 AND block_number <= $2 \
             AND block_number >= $3 ORDER BY block_number DESC",
        )
        .bind(chain_id.as_i64())
        .bind(i64::try_from(at_most).map_err(corrupt)?)
        .bind(i64::try_from(at_least).map_err(corrupt)?)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Checkpoint::try_from).collect()
    }

    /// Moves the cursor back to `ancestor` after a reorg, forgetting the hashes above it, and
    /// records the reorg.
    pub async fn rewind_checkpoint(
        &self,
        tx: &mut Tx,
        chain_id: ChainId,
        from: u64,
        ancestor: Checkpoint,
        reverted_credits: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM block_hashes WHERE chain_id = $1 AND block_number > $2")
            .bind(chain_id.as_i64())
            .bind(i64::try_from(ancestor.number).map_err(corrupt)?)
            .execute(&mut **tx)
            .await?;
        self.save_checkpoint(tx, chain_id, ancestor, now).await?;
        sqlx::query(
            "INSERT INTO reorgs (chain_id, from_block, ancestor_block, depth, reverted_credits, detected_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(chain_id.as_i64())
        .bind(i64::try_from(from).map_err(corrupt)?)
        .bind(i64::try_from(ancestor.number).map_err(corrupt)?)
        .bind(i64::try_from(from.saturating_sub(ancestor.number)).map_err(corrupt)?)
        .bind(i64::try_from(reverted_credits).map_err(corrupt)?)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Marks the chain halted at a reorg deeper than its limit. An unwind an operator already
    /// authorized stays authorized.
    pub async fn halt_chain(&self, chain_id: ChainId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE chain_cursors SET halted_at = $2 WHERE chain_id = $1")
            .bind(chain_id.as_i64())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Authorizes one unwind of a halted chain searching up to `depth` blocks back; false when
    /// the chain is not halted.
    pub async fn authorize_unwind(&self, chain_id: ChainId, depth: u64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE chain_cursors SET unwind_depth = $2 WHERE chain_id = $1 AND halted_at IS NOT NULL")
                .bind(chain_id.as_i64())
                .bind(i64::try_from(depth).map_err(corrupt)?)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The depth of the unwind an operator authorized for the halted chain, if any.
    pub async fn unwind_authorization(&self, chain_id: ChainId) -> Result<Option<u64>, StoreError> {
        let depth: Option<Option<i64>> =
            sqlx::query_scalar("SELECT unwind_depth FROM chain_cursors WHERE chain_id = $1 AND halted_at IS NOT NULL")
                .bind(chain_id.as_i64())
                .fetch_optional(&self.pool)
                .await?;
        depth.flatten().map(|d| unsigned("unwind_depth", d)).transpose()
    }

    /// An authorized unwind that found no fork point within its depth is used up: the chain
    /// stays halted until the next authorization.
    pub async fn revoke_unwind(&self, chain_id: ChainId) -> Result<(), StoreError> {
        sqlx::query("UPDATE chain_cursors SET unwind_depth = NULL WHERE chain_id = $1")
            .bind(chain_id.as_i64())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The chain follows again: its halt and the authorization it used are gone.
    pub async fn clear_halt(&self, chain_id: ChainId) -> Result<(), StoreError> {
        sqlx::query("UPDATE chain_cursors SET halted_at = NULL, unwind_depth = NULL WHERE chain_id = $1")
            .bind(chain_id.as_i64())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
