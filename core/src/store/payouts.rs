//! Payout rows: plain payouts, and the releases and refunds of payments' escrow.

use alloy::primitives::{Address, B256};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::payments::TokenRef;
use super::{corrupt, parse_column, Store, StoreError, Tx};
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

fn from_row(row: &AnyRow) -> Result<Payout, StoreError> {
    let opt_text = |c: &str| -> Result<Option<String>, StoreError> { Ok(row.try_get::<Option<String>, _>(c)?) };
    let u32_col = |c: &str| -> Result<u32, StoreError> { u32::try_from(row.try_get::<i64, _>(c)?).map_err(corrupt) };
    Ok(Payout {
        id: parse_column(row, "id")?,
        kind: parse_column(row, "kind")?,
        user_id: row.try_get("user_id")?,
        reference: row.try_get("reference")?,
        contract_id: opt_text("contract_id")?,
        reason: opt_text("reason")?,
        payment_id: opt_text("payment_id")?.map(|p| p.parse().map_err(corrupt)).transpose()?,
        holds_escrow: opt_text("escrow_payment_id")?.is_some(),
        chain_id: ChainId(u64::try_from(row.try_get::<i64, _>("chain_id")?).map_err(corrupt)?),
        token: TokenRef {
            symbol: row.try_get("token_symbol")?,
            address: parse_column(row, "token_address")?,
            decimals: u8::try_from(row.try_get::<i64, _>("token_decimals")?).map_err(corrupt)?,
        },
        recipient: parse_column(row, "recipient")?,
        amount: parse_column(row, "amount")?,
        status: parse_column(row, "status")?,
        attempts: u32_col("attempts")?,
        failures: u32_col("failures")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        tx_hash: opt_text("tx_hash")?.map(|h| h.parse().map_err(corrupt)).transpose()?,
        last_error: opt_text("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

impl Store {
    /// Inserts a payout unless its reference, its contract and reason, or its payment's escrow
    /// claim is taken; then the payout holding it is returned as the conflict.
    pub async fn insert_payout(&self, tx: &mut Tx, payout: &Payout) -> Result<Result<(), PayoutConflict>, StoreError> {
        if let Some(existing) = self.payout_where(tx, "reference = $1", &payout.reference).await? {
            return Ok(Err(PayoutConflict::Reference(existing)));
        }
        if let (Some(contract), Some(reason)) = (&payout.contract_id, &payout.reason) {
            let existing: Option<String> = sqlx::query("SELECT id FROM payouts WHERE contract_id = $1 AND reason = $2")
                .bind(contract)
                .bind(reason)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            if let Some(id) = existing {
                return Ok(Err(PayoutConflict::ContractReason(id.parse().map_err(corrupt)?)));
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
        let row = sqlx::query(&format!("SELECT id FROM payouts WHERE {filter}"))
            .bind(value)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| r.try_get::<String, _>(0).map_err(StoreError::from).and_then(|id| id.parse().map_err(corrupt)))
            .transpose()
    }

    pub async fn payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM payouts WHERE id = $1").bind(id.as_str()).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The release or refund that holds a payment's escrow claim.
    pub async fn escrow_payout(&self, payment_id: &PaymentId) -> Result<Option<Payout>, StoreError> {
        let row = sqlx::query("SELECT * FROM payouts WHERE escrow_payment_id = $1")
            .bind(payment_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
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
        let queued = if with_queued { " OR status = 'QUEUED'" } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT * FROM payouts WHERE (status = 'FAILED' AND next_attempt_at <= $1){queued} ORDER BY created_at, id"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Payouts with an attempt under way.
    pub async fn in_flight_payouts(&self) -> Result<Vec<Payout>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM payouts WHERE status = 'PROCESSING' OR status LIKE 'RETRY_%' ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many payouts wait for a batch run.
    pub async fn queued_payouts(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM payouts WHERE status = 'QUEUED'")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}
