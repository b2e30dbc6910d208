//! Payout rows: plain payouts, and the releases and refunds of payments' escrow.

use alloy::primitives::{Address, B256};
use sqlx::FromRow;

use super::column::{parsed, parsed_opt, unsigned};
use super::payments::TokenRef;
use super::{Store, StoreError, Tx};
use crate::{BaseUnits, ChainId, PaymentId, PayoutId, PayoutKind, PayoutStatus};

/// One payout as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub id: PayoutId,
    pub kind: PayoutKind,
    pub user_id: String,
    /// The caller's idempotency key: one payout per reference, ever.
    pub reference: String,
    pub contract_id: Option<String>,
    pub reason: Option<String>,
    /// The payment a release or refund settles.
    pub payment_id: Option<PaymentId>,
    /// Whether this payout holds its payment's one release-or-refund claim.
    pub holds_escrow: bool,
    pub chain_id: ChainId,
    pub token: TokenRef,
    pub recipient: Address,
    pub amount: BaseUnits,
    pub status: PayoutStatus,
    /// Attempts made, every retry included.
    pub attempts: u32,
    /// Failed attempts since the payout was queued (or an admin retried it).
    pub failures: u32,
    pub next_attempt_at: Option<i64>,
    pub tx_hash: Option<B256>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

impl Payout {
    /// The outbound reference of the current attempt: each attempt is its own transaction, and
    /// the same attempt never sends a second one.
    pub fn attempt_reference(&self) -> String {
        format!("{}#{}", self.id, self.attempts)
    }
}

/// A new payout conflicts with an existing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutConflict {
    Reference(PayoutId),
    ContractReason(PayoutId),
    /// The payment was already released or refunded (or is being).
    Escrow(PayoutId),
}

/// The columns every payout read selects, in [`PayoutRow`]'s names.
const COLUMNS: &str = "id, kind, user_id, reference, contract_id, reason, payment_id, escrow_payment_id, chain_id, \
    token_symbol, token_address, token_decimals, recipient, amount, status, attempts, failures, next_attempt_at, \
    tx_hash, last_error, created_at, updated_at, completed_at";

/// A `payouts` row as the database holds it.
#[derive(Debug, FromRow)]
struct PayoutRow {
    id: String,
    kind: String,
    user_id: String,
    reference: String,
    contract_id: Option<String>,
    reason: Option<String>,
    payment_id: Option<String>,
    escrow_payment_id: Option<String>,
    chain_id: i64,
    token_symbol: String,
    token_address: String,
    token_decimals: i64,
    recipient: String,
    amount: String,
    status: String,
    attempts: i64,
    failures: i64,
    next_attempt_at: Option<i64>,
    tx_hash: Option<String>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
}

impl TryFrom<PayoutRow> for Payout {
    type Error = StoreError;

    fn try_from(row: PayoutRow) -> Result<Self, StoreError> {
        Ok(Payout {
            id: parsed("id", &row.id)?,
            kind: parsed("kind", &row.kind)?,
            user_id: row.user_id,
            reference: row.reference,
            contract_id: row.contract_id,
            reason: row.reason,
            payment_id: parsed_opt("payment_id", row.payment_id.as_deref())?,
            holds_escrow: row.escrow_payment_id.is_some(),
            chain_id: ChainId(unsigned("chain_id", row.chain_id)?),
            token: TokenRef {
                symbol: row.token_symbol,
                address: parsed("token_address", &row.token_address)?,
                decimals: unsigned("token_decimals", row.token_decimals)?,
            },
            recipient: parsed("recipient", &row.recipient)?,
            amount: parsed("amount", &row.amount)?,
            status: parsed("status", &row.status)?,
            attempts: unsigned("attempts", row.attempts)?,
            failures: unsigned("failures", row.failures)?,
            next_attempt_at: row.next_attempt_at,
            tx_hash: parsed_opt("tx_hash", row.tx_hash.as_deref())?,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
        })
    }
}

/// The `LIKE` pattern of every retry status (`RETRY_1`, `RETRY_2`, …), from the status's own text.
fn retrying_pattern() -> String {
    let text = PayoutStatus::Retrying(0).as_string();
    format!("{}%", text.trim_end_matches(|c: char| c.is_ascii_digit()))
}

impl Store {
    /// Inserts a payout unless its reference, its contract and reason, or its payment's escrow
    /// claim is taken; then the payout holding it is returned as the conflict.
    pub async fn insert_payout(&self, tx: &mut Tx, payout: &Payout) -> Result<Result<(), PayoutConflict>, StoreError> {
        if let Some(existing) = self.payout_where(tx, "reference = $1", &payout.reference).await? {
            return Ok(Err(PayoutConflict::Reference(existing)));
        }
        if let (Some(contract), Some(reason)) = (&payout.contract_id, &payout.reason) {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT id FROM payouts WHERE contract_id = $1 AND reason = $2")
                    .bind(contract)
                    .bind(reason)
                    .fetch_optional(&mut **tx)
                    .await?;
            if let Some(id) = existing {
                return Ok(Err(PayoutConflict::ContractReason(parsed("id", &id)?)));
            }
        }
        let escrow = payout.payment_id.as_ref().filter(|_| payout.holds_escrow).map(|p| p.as_str().to_owned());
        if let Some(payment) = &escrow {
            if let Some(existing) = self.payout_where(tx, "escrow_payment_id = $1", payment).await? {
                return Ok(Err(PayoutConflict::Escrow(existing)));
            }
        }
        sqlx::query(
            "INSERT INTO payouts (id, kind, user_id, reference, contract_id, reason, payment_id, escrow_payment_id, \
             chain_id, token_symbol, token_address, token_decimals, recipient, amount, status, attempts, failures, \
             next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)",
        )
        .bind(payout.id.as_str())
        .bind(payout.kind.as_str())
        .bind(&payout.user_id)
        .bind(&payout.reference)
        .bind(payout.contract_id.as_deref())
        .bind(payout.reason.as_deref())
        .bind(payout.payment_id.as_ref().map(|p| p.as_str().to_owned()))
        .bind(escrow)
        .bind(payout.chain_id.as_i64())
        .bind(&payout.token.symbol)
        .bind(format!("{:#x}", payout.token.address))
        .bind(i64::from(payout.token.decimals))
        .bind(format!("{:#x}", payout.recipient))
        .bind(payout.amount.to_string())
        .bind(payout.status.as_string())
        .bind(i64::from(payout.attempts))
        .bind(i64::from(payout.failures))
        .bind(payout.next_attempt_at)
        .bind(payout.created_at)
        .execute(&mut **tx)
        .await?;
        Ok(Ok(()))
    }

    async fn payout_where(&self, tx: &mut Tx, filter: &str, value: &str) -> Result<Option<PayoutId>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(&format!("SELECT id FROM payouts WHERE {filter}"))
            .bind(value)
            .fetch_optional(&mut **tx)
            .await?;
        id.map(|id| parsed("id", &id)).transpose()
    }

    pub async fn payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let row = sqlx::query_as::<_, PayoutRow>(&format!("SELECT {COLUMNS} FROM payouts WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Payout::try_from).transpose()
    }

    /// The release or refund that holds a payment's escrow claim.
    pub async fn escrow_payout(&self, payment_id: &PaymentId) -> Result<Option<Payout>, StoreError> {
        let row =
            sqlx::query_as::<_, PayoutRow>(&format!("SELECT {COLUMNS} FROM payouts WHERE escrow_payment_id = $1"))
                .bind(payment_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Payout::try_from).transpose()
    }

    /// Writes a payout's new state if its status is still `expected`; returns whether it was
    /// written. This compare-and-set is what keeps two runs from taking the same job.
    pub async fn save_payout(&self, tx: &mut Tx, payout: &Payout, expected: PayoutStatus) -> Result<bool, StoreError> {
        let escrow = payout.payment_id.as_ref().filter(|_| payout.holds_escrow).map(|p| p.as_str().to_owned());
        let done = sqlx::query(
            "UPDATE payouts SET status = $2, attempts = $3, failures = $4, next_attempt_at = $5, tx_hash = $6, \
             last_error = $7, updated_at = $8, completed_at = $9, escrow_payment_id = $10 WHERE id = $1 AND status = $11",
        )
        .bind(payout.id.as_str())
        .bind(payout.status.as_string())
        .bind(i64::from(payout.attempts))
        .bind(i64::from(payout.failures))
        .bind(payout.next_attempt_at)
        .bind(payout.tx_hash.map(|h| format!("{h:#x}")))
        .bind(payout.last_error.as_deref())
        .bind(payout.updated_at)
        .bind(payout.completed_at)
        .bind(escrow)
        .bind(expected.as_string())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Payouts whose turn has come: failed ones whose retry is due, and queued ones when
    /// `with_queued` (a batch run takes those).
    pub async fn due_payouts(&self, now: i64, with_queued: bool) -> Result<Vec<Payout>, StoreError> {
        let queued = if with_queued { " OR status = $3" } else { "" };
        let sql = format!(
            "SELECT {COLUMNS} FROM payouts WHERE (status = $2 AND next_attempt_at <= $1){queued} ORDER BY created_at, id"
        );
        let mut query = sqlx::query_as::<_, PayoutRow>(&sql).bind(now).bind(PayoutStatus::Failed.as_string());
        if with_queued {
            query = query.bind(PayoutStatus::Queued.as_string());
        }
        query.fetch_all(&self.pool).await?.into_iter().map(Payout::try_from).collect()
    }

    /// Payouts with an attempt under way.
    pub async fn in_flight_payouts(&self) -> Result<Vec<Payout>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM payouts WHERE status = $1 OR status LIKE $2 ORDER BY created_at, id");
        let rows = sqlx::query_as::<_, PayoutRow>(&sql)
            .bind(PayoutStatus::Processing.as_string())
            .bind(retrying_pattern())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Payout::try_from).collect()
    }

    /// How many payouts wait for a batch run.
    pub async fn queued_payouts(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM payouts WHERE status = $1")
            .bind(PayoutStatus::Queued.as_string())
            .fetch_one(&self.pool)
            .await?)
    }
}
