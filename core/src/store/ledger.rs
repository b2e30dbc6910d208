//! The ledger: an append-only record of every movement of money (a database trigger refuses
//! updates and deletes). Balances per account and token are sums over it.

use std::fmt;

use alloy::primitives::{Address, B256};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{corrupt, parse_column, Store, StoreError, Tx};
use crate::store::credits::Credit;
use crate::{BaseUnits, ChainId, PaymentId, PayoutId};

/// What moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A transfer to a destination was seen on chain.
    CreditDetected,
    /// A payment's transfers reached the threshold and passed Transaction Safety (informational:
    /// the money moved at detection).
    CreditConfirmed,
    /// A reorg took a detected transfer away.
    CreditReverted,
    /// A sweep moved a destination's balance to the master wallet (one entry out, one in).
    Swept,
    /// A payout left the payout wallet.
    PaidOut,
    /// A payment's escrow was released to its seller.
    Released,
    /// A payment's escrow was returned to its buyer.
    Refunded,
    /// Gas a transaction payscan sent paid, in the chain's native coin (token `0x0`).
    Fee,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreditDetected => "credit_detected",
            Self::CreditConfirmed => "credit_confirmed",
            Self::CreditReverted => "credit_reverted",
            Self::Swept => "swept",
            Self::PaidOut => "paid_out",
            Self::Released => "released",
            Self::Refunded => "refunded",
            Self::Fee => "fee",
        }
    }

    /// How the entry changes its account's balance.
    pub fn direction(self) -> Direction {
        match self {
            Self::CreditDetected => Direction::In,
            Self::CreditReverted => Direction::Out,
            Self::CreditConfirmed => Direction::None,
            // Both ways: out of the destination, into the master wallet.
            Self::Swept => Direction::None,
            Self::PaidOut | Self::Released | Self::Refunded | Self::Fee => Direction::Out,
        }
    }
}

/// One movement out of an account: a payout, release, refund or fee.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub kind: EntryKind,
    pub payment_id: Option<&'a PaymentId>,
    pub payout_id: Option<&'a PayoutId>,
    pub user_id: Option<&'a str>,
    pub chain_id: ChainId,
    pub token: Address,
    pub account: Address,
    pub amount: BaseUnits,
    pub tx_hash: B256,
}

/// Into the account, out of it, or neither (a state change of money already counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    None,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::In => "in",
            Self::Out => "out",
            Self::None => "none",
        })
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub payment_id: Option<PaymentId>,
    pub payout_id: Option<PayoutId>,
    pub user_id: Option<String>,
    pub chain_id: ChainId,
    pub token: Address,
    pub account: Address,
    pub direction: String,
    pub amount: BaseUnits,
    pub tx_hash: Option<B256>,
    pub log_index: Option<u64>,
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<Entry, StoreError> {
    let payment_id: Option<String> = row.try_get("payment_id")?;
    let payout_id: Option<String> = row.try_get("payout_id")?;
    let tx_hash: Option<String> = row.try_get("tx_hash")?;
    let log_index: Option<i64> = row.try_get("log_index")?;
    Ok(Entry {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payment_id: payment_id.map(|p| p.parse().map_err(corrupt)).transpose()?,
        payout_id: payout_id.map(|p| p.parse().map_err(corrupt)).transpose()?,
        user_id: row.try_get("user_id")?,
        chain_id: ChainId(u64::try_from(row.try_get::<i64, _>("chain_id")?).map_err(corrupt)?),
        token: parse_column(row, "token")?,
        account: parse_column(row, "account")?,
        direction: row.try_get("direction")?,
        amount: parse_column(row, "amount")?,
        tx_hash: tx_hash.map(|h| h.parse().map_err(corrupt)).transpose()?,
        log_index: log_index.map(|i| u64::try_from(i).map_err(corrupt)).transpose()?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Appends the ledger entry of a credit event, in the caller's transaction.
    pub async fn record_credit(
        &self,
        tx: &mut Tx,
        kind: EntryKind,
        credit: &Credit,
        user_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_entries (kind, payment_id, user_id, chain_id, token, account, direction, amount, \
             tx_hash, log_index, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(kind.as_str())
        .bind(credit.payment_id.as_str())
        .bind(user_id)
        .bind(credit.chain_id.as_i64())
        .bind(format!("{:#x}", credit.token))
        .bind(format!("{:#x}", credit.to))
        .bind(kind.direction().to_string())
        .bind(credit.amount.to_string())
        .bind(format!("{:#x}", credit.tx_hash))
        .bind(i64::try_from(credit.log_index).map_err(corrupt)?)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Appends one movement of `amount` into or out of `account`, in the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_movement(
        &self,
        tx: &mut Tx,
        kind: EntryKind,
        payment_id: &PaymentId,
        user_id: &str,
        chain_id: ChainId,
        token: Address,
        account: Address,
        direction: Direction,
        amount: BaseUnits,
        tx_hash: B256,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_entries (kind, payment_id, user_id, chain_id, token, account, direction, amount, \
             tx_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(kind.as_str())
        .bind(payment_id.as_str())
        .bind(user_id)
        .bind(chain_id.as_i64())
        .bind(format!("{token:#x}"))
        .bind(format!("{account:#x}"))
        .bind(direction.to_string())
        .bind(amount.to_string())
        .bind(format!("{tx_hash:#x}"))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Appends one entry, in the caller's transaction.
    pub async fn append_entry(&self, tx: &mut Tx, entry: &NewEntry<'_>, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_entries (kind, payment_id, payout_id, user_id, chain_id, token, account, direction, \
             amount, tx_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(entry.kind.as_str())
        .bind(entry.payment_id.map(|p| p.as_str().to_owned()))
        .bind(entry.payout_id.map(|p| p.as_str().to_owned()))
        .bind(entry.user_id)
        .bind(entry.chain_id.as_i64())
        .bind(format!("{:#x}", entry.token))
        .bind(format!("{:#x}", entry.account))
        .bind(entry.kind.direction().to_string())
        .bind(entry.amount.to_string())
        .bind(format!("{:#x}", entry.tx_hash))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Every entry about one account's holdings of one token, oldest first.
    pub async fn ledger_of_account(
        &self,
        chain_id: ChainId,
        token: Address,
        account: Address,
    ) -> Result<Vec<Entry>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM ledger_entries WHERE chain_id = $1 AND token = $2 AND account = $3 ORDER BY id")
                .bind(chain_id.as_i64())
                .bind(format!("{token:#x}"))
                .bind(format!("{account:#x}"))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(from_row).collect()
    }

    /// A user's entries, oldest first, with the total.
    pub async fn ledger_of_user(
        &self,
        user_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Entry>, i64), StoreError> {
        let rows = sqlx::query("SELECT * FROM ledger_entries WHERE user_id = $1 ORDER BY id LIMIT $2 OFFSET $3")
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_entries WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
    }
}
