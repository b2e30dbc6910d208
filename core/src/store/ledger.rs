//! The ledger: an append-only record of every movement of money (a database trigger refuses
//! updates and deletes). Balances per account and token are sums over it.

use std::fmt;

use alloy::primitives::{Address, B256};
use sqlx::FromRow;

use super::column::{parsed, parsed_opt, unsigned};
use super::{corrupt, Store, StoreError, Tx};
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

/// A `ledger_entries` row as the database holds it.
#[derive(Debug, FromRow)]
struct EntryRow {
    id: i64,
    kind: String,
    payment_id: Option<String>,
    payout_id: Option<String>,
    user_id: Option<String>,
    chain_id: i64,
    token: String,
    account: String,
    direction: String,
    amount: String,
    tx_hash: Option<String>,
    log_index: Option<i64>,
    created_at: i64,
}

impl TryFrom<EntryRow> for Entry {
    type Error = StoreError;

    fn try_from(row: EntryRow) -> Result<Self, StoreError> {
        Ok(Entry {
            id: row.id,
            kind: row.kind,
            payment_id: parsed_opt("payment_id", row.payment_id.as_deref())?,
            payout_id: parsed_opt("payout_id", row.payout_id.as_deref())?,
            user_id: row.user_id,
            chain_id: ChainId(unsigned("chain_id", row.chain_id)?),
            token: parsed("token", &row.token)?,
            account: parsed("account", &row.account)?,
            direction: row.direction,
            amount: parsed("amount", &row.amount)?,
            tx_hash: parsed_opt("tx_hash", row.tx_hash.as_deref())?,
            log_index: row.log_index.map(|i| unsigned("log_index", i)).transpose()?,
            created_at: row.created_at,
        })
    }
}

/// The columns every entry read selects, in [`EntryRow`]'s names.
const COLUMNS: &str =
    "id, kind, payment_id, payout_id, user_id, chain_id, token, account, direction, amount, tx_hash, log_index, created_at";

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
        let sql = format!(
            "SELECT {COLUMNS} FROM ledger_entries WHERE chain_id = $1 AND token = $2 AND account = $3 ORDER BY id"
        );
        let rows = sqlx::query_as::<_, EntryRow>(&sql)
            .bind(chain_id.as_i64())
            .bind(format!("{token:#x}"))
            .bind(format!("{account:#x}"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Entry::try_from).collect()
    }

    /// A user's entries, oldest first, with the total.
    pub async fn ledger_of_user(
        &self,
        user_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Entry>, i64), StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM ledger_entries WHERE user_id = $1 ORDER BY id LIMIT $2 OFFSET $3");
        let rows =
            sqlx::query_as::<_, EntryRow>(&sql).bind(user_id).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows.into_iter().map(Entry::try_from).collect::<Result<_, _>>()?, total))
    }
}
