//! Transactions payscan sends: one nonce allocator per (chain, sender) and every signed
//! transaction, recorded before it is broadcast so that a crash never loses or repeats one.

use alloy::primitives::{Address, Bytes, B256, U256};
use sqlx::FromRow;

use super::column::{json, parsed, unsigned};
use super::ledger::{EntryKind, NewEntry};
use super::{corrupt, Backend, Store, StoreError, Tx};
use crate::{BaseUnits, ChainId};

/// Where a sent transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundStatus {
    /// Signed and recorded; broadcast or still to be; no receipt yet.
    Pending,
    /// Mined with a successful receipt.
    Mined,
    /// Mined and reverted.
    Failed,
    /// Never mined: another transaction of the sender took its nonce.
    Dropped,
}

impl OutboundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Mined => "mined",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

impl std::str::FromStr for OutboundStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Pending, Self::Mined, Self::Failed, Self::Dropped]
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown outbound status `{s}`"))
    }
}

/// A signed transaction as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTx {
    pub id: i64,
    pub chain_id: ChainId,
    pub sender: Address,
    pub nonce: u64,
    pub purpose: String,
    pub reference: String,
    pub to: Address,
    pub value: U256,
    pub data: Bytes,
    pub gas_limit: u64,
    pub max_fee: u128,
    pub priority_fee: u128,
    /// The latest signed attempt.
    pub raw: Bytes,
    pub tx_hash: B256,
    /// Every attempt's hash: a replaced transaction may still be the one that is mined.
    pub hashes: Vec<B256>,
    pub status: OutboundStatus,
    pub attempts: u32,
    pub block_number: Option<u64>,
    pub last_error: Option<String>,
    pub replace_at: i64,
    /// When its nonce was first seen taken with none of its hashes known (see `drop_grace`).
    pub suspected_at: Option<i64>,
}

/// The columns every transaction read selects, in [`OutboundRow`]'s names.
const COLUMNS: &str = "id, chain_id, sender, nonce, purpose, reference, tx_to, tx_value, tx_data, gas_limit, max_fee, \
    priority_fee, raw, tx_hash, hashes, status, attempts, block_number, last_error, replace_at, suspected_at";

/// An `outbound_txs` row as the database holds it.
#[derive(Debug, FromRow)]
struct OutboundRow {
    id: i64,
    chain_id: i64,
    sender: String,
    nonce: i64,
    purpose: String,
    reference: String,
    tx_to: String,
    tx_value: String,
    tx_data: String,
    gas_limit: i64,
    /// Wei as decimal text: a u128 does not fit the databases' integers.
    max_fee: String,
    priority_fee: String,
    raw: String,
    tx_hash: String,
    /// A JSON list.
    hashes: String,
    status: String,
    attempts: i64,
    block_number: Option<i64>,
    last_error: Option<String>,
    replace_at: i64,
    suspected_at: Option<i64>,
}

impl TryFrom<OutboundRow> for OutboundTx {
    type Error = StoreError;

    fn try_from(row: OutboundRow) -> Result<Self, StoreError> {
        Ok(OutboundTx {
            id: row.id,
            chain_id: ChainId(unsigned("chain_id", row.chain_id)?),
            sender: parsed("sender", &row.sender)?,
            nonce: unsigned("nonce", row.nonce)?,
            purpose: row.purpose,
            reference: row.reference,
            to: parsed("tx_to", &row.tx_to)?,
            value: parsed("tx_value", &row.tx_value)?,
            data: parsed("tx_data", &row.tx_data)?,
            gas_limit: unsigned("gas_limit", row.gas_limit)?,
            max_fee: parsed("max_fee", &row.max_fee)?,
            priority_fee: parsed("priority_fee", &row.priority_fee)?,
            raw: parsed("raw", &row.raw)?,
            tx_hash: parsed("tx_hash", &row.tx_hash)?,
            hashes: json("hashes", &row.hashes)?,
            status: parsed("status", &row.status)?,
            attempts: unsigned("attempts", row.attempts)?,
            block_number: row.block_number.map(|b| unsigned("block_number", b)).transpose()?,
            last_error: row.last_error,
            replace_at: row.replace_at,
            suspected_at: row.suspected_at,
        })
    }
}

impl Store {
    /// The next nonce of `sender` on a chain: never below `chain_next` (what the node counts,
    /// pending included) nor below what payscan handed out. The row stays locked until the
    /// transaction ends, so concurrent senders get consecutive nonces.
    pub async fn allocate_nonce(
        &self,
        tx: &mut Tx,
        chain_id: ChainId,
        sender: Address,
        chain_next: u64,
    ) -> Result<u64, StoreError> {
        let sender = format!("{sender:#x}");
        let chain_next = i64::try_from(chain_next).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO sender_nonces (chain_id, sender, next_nonce) VALUES ($1, $2, $3) \
             ON CONFLICT (chain_id, sender) DO NOTHING",
        )
        .bind(chain_id.as_i64())
        .bind(&sender)
        .bind(chain_next)
        .execute(&mut **tx)
        .await?;
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
        let stored: i64 = sqlx::query_scalar(&format!(
            "SELECT next_nonce FROM sender_nonces WHERE chain_id = $1 AND sender = $2{lock}"
        ))
        .bind(chain_id.as_i64())
        .bind(&sender)
        .fetch_one(&mut **tx)
        .await?;
        let nonce = stored.max(chain_next);
        sqlx::query("UPDATE sender_nonces SET next_nonce = $3 WHERE chain_id = $1 AND sender = $2")
            .bind(chain_id.as_i64())
            .bind(&sender)
            .bind(nonce + 1)
            .execute(&mut **tx)
            .await?;
        u64::try_from(nonce).map_err(corrupt)
    }

    /// Records a signed transaction before it is broadcast.
    pub async fn insert_outbound(&self, tx: &mut Tx, out: &OutboundTx, now: i64) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbound_txs (chain_id, sender, nonce, purpose, reference, tx_to, tx_value, tx_data, gas_limit, \
             max_fee, priority_fee, raw, tx_hash, hashes, status, attempts, replace_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $17, 1, $15, $16, $16) RETURNING id",
        )
        .bind(out.chain_id.as_i64())
        .bind(format!("{:#x}", out.sender))
        .bind(i64::try_from(out.nonce).map_err(corrupt)?)
        .bind(&out.purpose)
        .bind(&out.reference)
        .bind(format!("{:#x}", out.to))
        .bind(out.value.to_string())
        .bind(out.data.to_string())
        .bind(i64::try_from(out.gas_limit).map_err(corrupt)?)
        .bind(out.max_fee.to_string())
        .bind(out.priority_fee.to_string())
        .bind(out.raw.to_string())
        .bind(format!("{:#x}", out.tx_hash))
        .bind(serde_json::to_string(&out.hashes).map_err(corrupt)?)
        .bind(out.replace_at)
        .bind(now)
        .bind(OutboundStatus::Pending.as_str())
        .fetch_one(&mut **tx)
        .await?;
        Ok(id)
    }

    /// How many transactions of `purpose` whose reference starts with `prefix` are in flight or
    /// mined, read in `tx` (the caller holds the lock that serializes such sends).
    pub async fn live_outbound_with_prefix(&self, tx: &mut Tx, purpose: &str, prefix: &str) -> Result<i64, StoreError> {
        let len = i64::try_from(prefix.chars().count()).map_err(corrupt)?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbound_txs WHERE purpose = $1 AND substr(reference, 1, CAST($3 AS INTEGER)) = $2 \
             AND status IN ($4, $5)",
        )
        .bind(purpose)
        .bind(prefix)
        .bind(len)
        .bind(OutboundStatus::Pending.as_str())
        .bind(OutboundStatus::Mined.as_str())
        .fetch_one(&mut **tx)
        .await?;
        Ok(count)
    }

    /// A transaction by what it was sent for.
    pub async fn outbound_by_reference(
        &self,
        purpose: &str,
        reference: &str,
    ) -> Result<Option<OutboundTx>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbound_txs WHERE purpose = $1 AND reference = $2");
        let row =
            sqlx::query_as::<_, OutboundRow>(&sql).bind(purpose).bind(reference).fetch_optional(&self.pool).await?;
        row.map(OutboundTx::try_from).transpose()
    }

    /// A sender's transactions without a receipt yet, by nonce.
    pub async fn pending_outbound(&self, chain_id: ChainId, sender: Address) -> Result<Vec<OutboundTx>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbound_txs WHERE chain_id = $1 AND sender = $2 AND status = $3 ORDER BY nonce"
        );
        let rows = sqlx::query_as::<_, OutboundRow>(&sql)
            .bind(chain_id.as_i64())
            .bind(format!("{sender:#x}"))
            .bind(OutboundStatus::Pending.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(OutboundTx::try_from).collect()
    }

    /// Every transaction of a sender, by nonce.
    pub async fn outbound_of(&self, chain_id: ChainId, sender: Address) -> Result<Vec<OutboundTx>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbound_txs WHERE chain_id = $1 AND sender = $2 ORDER BY nonce");
        let rows = sqlx::query_as::<_, OutboundRow>(&sql)
            .bind(chain_id.as_i64())
            .bind(format!("{sender:#x}"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(OutboundTx::try_from).collect()
    }

    /// A replacement attempt at the same nonce: new fees, raw bytes and hash.
    pub async fn replace_outbound(&self, out: &OutboundTx, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbound_txs SET max_fee = $2, priority_fee = $3, raw = $4, tx_hash = $5, hashes = $6, \
             attempts = $7, replace_at = $8, updated_at = $9 WHERE id = $1 AND status = $10",
        )
        .bind(out.id)
        .bind(out.max_fee.to_string())
        .bind(out.priority_fee.to_string())
        .bind(out.raw.to_string())
        .bind(format!("{:#x}", out.tx_hash))
        .bind(serde_json::to_string(&out.hashes).map_err(corrupt)?)
        .bind(i64::from(out.attempts))
        .bind(out.replace_at)
        .bind(now)
        .bind(OutboundStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The receipt arrived: mined (or failed) under `hash`, having paid `fee` wei of gas, which
    /// the ledger records in the same transaction.
    pub async fn finish_outbound(
        &self,
        out: &OutboundTx,
        status: OutboundStatus,
        hash: B256,
        block: u64,
        fee: U256,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE outbound_txs SET status = $2, tx_hash = $3, block_number = $4, receipt_status = $5, updated_at = $6 \
             WHERE id = $1 AND status = $7",
        )
        .bind(out.id)
        .bind(status.as_str())
        .bind(format!("{hash:#x}"))
        .bind(i64::try_from(block).map_err(corrupt)?)
        .bind(i64::from(status == OutboundStatus::Mined))
        .bind(now)
        .bind(OutboundStatus::Pending.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 && !fee.is_zero() {
            let entry = NewEntry {
                kind: EntryKind::Fee,
                payment_id: None,
                payout_id: None,
                user_id: None,
                chain_id: out.chain_id,
                token: Address::ZERO,
                account: out.sender,
                amount: BaseUnits(fee),
                tx_hash: hash,
            };
            self.append_entry(&mut tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Its nonce looks taken and the node knows none of its hashes: remember since when.
    pub async fn suspect_outbound(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbound_txs SET suspected_at = $2 WHERE id = $1 AND suspected_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Another transaction took this one's nonce: it will never be mined.
    pub async fn drop_outbound(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbound_txs SET status = $3, last_error = 'nonce taken by another transaction', \
             updated_at = $2 WHERE id = $1 AND status = $4",
        )
        .bind(id)
        .bind(now)
        .bind(OutboundStatus::Dropped.as_str())
        .bind(OutboundStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remembers why a broadcast failed (the tracker tries again).
    pub async fn note_outbound_error(&self, id: i64, error: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbound_txs SET last_error = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(error.chars().take(500).collect::<String>())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
