//! Payment rows.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::counters::{self, DERIVATION_INDEX, WATCH_SEQ};
use super::filter::{Filter, Param};
use super::{corrupt, parse_column, Backend, Store, StoreError, Tx};

mod row;
mod write;
pub use write::Changed;

use crate::reference::{new_salt, PaymentReference};
use crate::{BaseUnits, ChainId, DerivationIndex, EscrowState, PaymentId, PaymentStatus, Provider};
pub(super) use row::{from_row, COLUMNS};

/// The token a payment is made in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EventToken))]
pub struct TokenRef {
    pub symbol: String,
    #[serde(serialize_with = "checksummed")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    pub decimals: u8,
}

fn checksummed<S: serde::Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&a.to_checksum(None))
}

/// Chain, token and amount: what the buyer must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rail {
    pub provider: Provider,
    pub chain_id: ChainId,
    pub token: TokenRef,
    pub amount: BaseUnits,
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub id: PaymentId,
    pub buyer_id: String,
    pub seller_id: String,
    pub seller_offer_id: String,
    pub purchase_request_id: String,
    pub rail: Rail,
    pub status: PaymentStatus,
    pub escrow: EscrowState,
    /// Sum of the counted credits, in base units.
    pub received: BaseUnits,
    pub destination: Address,
    pub derivation_index: DerivationIndex,
    /// Confirmations of the newest counted credit, capped at the threshold.
    pub confirmations: u64,
    pub tx_hash: Option<B256>,
    /// The threshold was reached with less than the amount received.
    pub underpaid: bool,
    /// The last Transaction Safety evaluation (`status`, `checks`), once the threshold was reached.
    pub safety: Option<serde_json::Value>,
    pub metadata: serde_json::Value,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    /// Request Network terms: who the fee proxy pays and the reference it must carry. Payments
    /// made before the rail existed have none.
    pub rn: Option<RnTerms>,
}

/// What a Request Network payment through the fee proxy must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RnTerms {
    pub payee: Address,
    pub reference: PaymentReference,
    pub salt: String,
}

impl Payment {
    /// What arrived beyond the amount.
    pub fn overpaid(&self) -> BaseUnits {
        self.received.saturating_sub(self.rail.amount)
    }

    pub fn is_covered(&self) -> bool {
        self.received >= self.rail.amount
    }
}

/// What a new payment is created from.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub buyer_id: String,
    pub seller_id: String,
    pub seller_offer_id: String,
    pub purchase_request_id: String,
    pub rail: Rail,
    pub metadata: serde_json::Value,
    pub expires_at: i64,
    /// The Request Network payee when it is one configured receiver; else the destination.
    pub rn_payee: Option<Address>,
}

/// A destination to watch, as of one change.
#[derive(Debug, Clone)]
pub struct WatchEntry {
    pub seq: i64,
    pub payment_id: PaymentId,
    pub destination: Address,
    pub status: PaymentStatus,
    pub provider: Provider,
    pub reference: Option<PaymentReference>,
    /// When the payment last changed (ms): a closed payment's watch window counts from then.
    pub updated_at: i64,
}

fn address_text(a: &Address) -> String {
    format!("{a:#x}")
}

impl Store {
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// A payment by id.
    pub async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A payment by id, locked for the rest of the transaction.
    pub async fn payment_for_update(&self, tx: &mut Tx, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1{}", self.for_update());
        let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&mut **tx).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The buyer's open (pending or processing) payment for a seller offer, locked.
    pub async fn open_payment_for_offer(
        &self,
        tx: &mut Tx,
        buyer_id: &str,
        seller_offer_id: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let filter = Filter::default()
            .and("buyer_id = {}", buyer_id)
            .and("seller_offer_id = {}", seller_offer_id)
            .status_in("status", &PaymentStatus::OPEN);
        let sql = format!("SELECT {COLUMNS} FROM payments{}{}", filter.clause(), self.for_update());
        let row = filter.bind(sqlx::query(&sql)).fetch_optional(&mut **tx).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Takes the next derivation index. The counter row stays locked until the transaction ends,
    /// so no two committed payments share an index; a rollback hands the index back.
    pub async fn allocate_derivation_index(&self, tx: &mut Tx) -> Result<DerivationIndex, StoreError> {
        let value = counters::next(tx, DERIVATION_INDEX).await?;
        u32::try_from(value)
            .ok()
            .and_then(DerivationIndex::new)
            .ok_or_else(|| corrupt(format!("derivation index {value} is beyond the non-hardened range")))
    }

    /// Inserts a pending payment at a freshly allocated destination.
    pub async fn insert_payment(
        &self,
        tx: &mut Tx,
        new: NewPayment,
        index: DerivationIndex,
        destination: Address,
        now: i64,
    ) -> Result<Payment, StoreError> {
        let watch_seq = counters::next(tx, WATCH_SEQ).await?;
        let id = PaymentId::new();
        let payee = new.rn_payee.unwrap_or(destination);
        let salt = new_salt();
        let rn = RnTerms { payee, reference: PaymentReference::for_payment(id.as_str(), &salt, payee), salt };
        let payment = Payment {
            id,
            buyer_id: new.buyer_id,
            seller_id: new.seller_id,
            seller_offer_id: new.seller_offer_id,
            purchase_request_id: new.purchase_request_id,
            rail: new.rail,
            status: PaymentStatus::Pending,
            escrow: EscrowState::Unfunded,
            received: BaseUnits::ZERO,
            destination,
            derivation_index: index,
            confirmations: 0,
            tx_hash: None,
            underpaid: false,
            safety: None,
            metadata: new.metadata,
            expires_at: new.expires_at,
            created_at: now,
            updated_at: now,
            completed_at: None,
            rn: Some(rn.clone()),
        };
        sqlx::query(
            "INSERT INTO payments (id, buyer_id, seller_id, seller_offer_id, purchase_request_id, provider, \
             status, escrow_state, chain_id, token_address, token_symbol, token_decimals, amount, received, \
             destination, derivation_index, confirmations, tx_hash, underpaid, metadata, watch_seq, expires_at, \
             created_at, updated_at, completed_at, rn_payee, payment_reference, salt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0, NULL, 0, $17, $18, \
             $19, $20, $20, NULL, $21, $22, $23)",
        )
        .bind(payment.id.as_str())
        .bind(&payment.buyer_id)
        .bind(&payment.seller_id)
        .bind(&payment.seller_offer_id)
        .bind(&payment.purchase_request_id)
        .bind(payment.rail.provider.as_str())
        .bind(payment.status.as_str())
        .bind(payment.escrow.as_str())
        .bind(payment.rail.chain_id.as_i64())
        .bind(address_text(&payment.rail.token.address))
        .bind(&payment.rail.token.symbol)
        .bind(i64::from(payment.rail.token.decimals))
        .bind(payment.rail.amount.to_string())
        .bind(payment.received.to_string())
        .bind(address_text(&payment.destination))
        .bind(i64::from(index.get()))
        .bind(payment.metadata.to_string())
        .bind(watch_seq)
        .bind(payment.expires_at)
        .bind(now)
        .bind(address_text(&rn.payee))
        .bind(rn.reference.to_string())
        .bind(&rn.salt)
        .execute(&mut **tx)
        .await?;
        Ok(payment)
    }

    /// Points a pending payment at another rail; followers see the change through its watch seq.
    /// The buyer's `metadata` is merged into what the payment has: keys an admin wrote keep the
    /// admin's values.
    pub async fn repoint_payment(
        &self,
        tx: &mut Tx,
        payment: &mut Payment,
        rail: Rail,
        metadata: serde_json::Value,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let admin_keys = self.admin_metadata_keys(tx, &payment.id).await?;
        let mut merged = payment.metadata.as_object().cloned().unwrap_or_default();
        if let serde_json::Value::Object(buyer) = metadata {
            merged.extend(buyer.into_iter().filter(|(key, _)| !admin_keys.contains(key)));
        }
        let metadata = serde_json::Value::Object(merged);
        let watch_seq = counters::next(tx, WATCH_SEQ).await?;
        sqlx::query(
            "UPDATE payments SET provider = $2, chain_id = $3, token_address = $4, token_symbol = $5, \
             token_decimals = $6, amount = $7, metadata = $8, expires_at = $9, watch_seq = $10, updated_at = $11 \
             WHERE id = $1 AND status = $12",
        )
        .bind(payment.id.as_str())
        .bind(rail.provider.as_str())
        .bind(rail.chain_id.as_i64())
        .bind(address_text(&rail.token.address))
        .bind(&rail.token.symbol)
        .bind(i64::from(rail.token.decimals))
        .bind(rail.amount.to_string())
        .bind(metadata.to_string())
        .bind(expires_at)
        .bind(watch_seq)
        .bind(now)
        .bind(PaymentStatus::Pending.as_str())
        .execute(&mut **tx)
        .await?;
        payment.rail = rail;
        payment.metadata = metadata;
        payment.expires_at = expires_at;
        payment.updated_at = now;
        Ok(())
    }

    /// A buyer's payments, newest first, with the total that match.
    pub async fn payments_of_buyer(
        &self,
        buyer_id: &str,
        statuses: &[PaymentStatus],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Payment>, i64), StoreError> {
        let filter = Filter::default().and("buyer_id = {}", buyer_id).status_in("status", statuses);
        let sql = format!(
            "SELECT {COLUMNS} FROM payments{} ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
            filter.clause(),
            filter.then(1),
            filter.then(2)
        );
        let rows = filter.bind(sqlx::query(&sql)).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let count = format!("SELECT COUNT(*) FROM payments{}", filter.clause());
        let total: i64 = filter.bind(sqlx::query(&count)).fetch_one(&self.pool).await?.try_get(0)?;
        Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
    }

    /// Payments in creation order after `after` (`(created_at, id)` of the last one read), a page
    /// at a time, of one buyer or everyone: what an export streams.
    pub async fn payments_after(
        &self,
        buyer_id: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<Payment>, StoreError> {
        let (created, id) = after.unwrap_or((i64::MIN, ""));
        // Past `(created, id)` in creation order.
        let after = [Param::Int(created), Param::Int(created), Param::from(id)];
        let filter = Filter::default()
            .and_each("(created_at > {} OR (created_at = {} AND id > {}))", after)
            .and_some("buyer_id = {}", buyer_id);
        let sql = format!(
            "SELECT {COLUMNS} FROM payments{} ORDER BY created_at, id LIMIT {}",
            filter.clause(),
            filter.then(1)
        );
        let rows = filter.bind(sqlx::query(&sql)).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// `(status, chain, token symbol, amount, received)` of every payment of one buyer or of all:
    /// what statistics add up (base-unit sums are exact, so they are added in code, not SQL).
    pub async fn payment_amounts(
        &self,
        buyer_id: Option<&str>,
    ) -> Result<Vec<(PaymentStatus, ChainId, String, BaseUnits, BaseUnits)>, StoreError> {
        let filter = Filter::default().and_some("buyer_id = {}", buyer_id);
        let sql = format!("SELECT status, chain_id, token_symbol, amount, received FROM payments{}", filter.clause());
        let rows = filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_column(row, "status")?,
                    ChainId(u64::try_from(row.try_get::<i64, _>("chain_id")?).map_err(corrupt)?),
                    row.try_get("token_symbol")?,
                    parse_column(row, "amount")?,
                    parse_column(row, "received")?,
                ))
            })
            .collect()
    }

    /// Pending payments that expired before `now` with nothing received, and whose chain's cursor
    /// is past the block at their `expiresAt` (a lagging follower may not have seen a payment made
    /// in time), with their chain.
    pub async fn expired_pending(&self, now: i64, limit: i64) -> Result<Vec<(PaymentId, ChainId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.chain_id FROM payments p JOIN chain_cursors c ON c.chain_id = p.chain_id \
             WHERE p.status = $3 AND p.expires_at < $1 AND p.received = '0' \
             AND c.block_timestamp IS NOT NULL AND c.block_timestamp * 1000 > p.expires_at \
             ORDER BY p.expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .bind(PaymentStatus::Pending.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let chain_id: i64 = row.try_get(1)?;
                Ok((parse_column(row, "id")?, ChainId(u64::try_from(chain_id).map_err(corrupt)?)))
            })
            .collect()
    }

    /// Completed-or-later payments without a transaction hash.
    pub async fn payments_missing_tx(&self, limit: i64) -> Result<Vec<Payment>, StoreError> {
        let filter = Filter::default().and_sql("tx_hash IS NULL").status_in("status", &PaymentStatus::SETTLED);
        let sql =
            format!("SELECT {COLUMNS} FROM payments{} ORDER BY created_at LIMIT {}", filter.clause(), filter.then(1));
        let rows = filter.bind(sqlx::query(&sql)).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The metadata keys an admin wrote on a payment (a buyer's re-pointed intent keeps them).
    pub async fn admin_metadata_keys(&self, tx: &mut Tx, id: &PaymentId) -> Result<Vec<String>, StoreError> {
        let row = sqlx::query("SELECT admin_metadata_keys FROM payments WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let text: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
        text.map_or(Ok(Vec::new()), |t| serde_json::from_str(&t).map_err(corrupt))
    }

    /// Adds `written` to the metadata keys admins wrote on a payment.
    pub async fn note_admin_metadata_keys(
        &self,
        tx: &mut Tx,
        id: &PaymentId,
        written: impl IntoIterator<Item = String>,
    ) -> Result<(), StoreError> {
        let mut keys = self.admin_metadata_keys(tx, id).await?;
        for key in written {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        sqlx::query("UPDATE payments SET admin_metadata_keys = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(serde_json::to_string(&keys).map_err(corrupt)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Payments whose money passed its threshold (completed, released or refunded), optionally on
    /// one chain or in one token symbol: what a sweep of all destinations looks at.
    pub async fn sweepable_payments(
        &self,
        chain_id: Option<ChainId>,
        token_symbol: Option<&str>,
    ) -> Result<Vec<Payment>, StoreError> {
        let filter = Filter::default()
            .status_in("status", &PaymentStatus::SETTLED)
            .and_some("chain_id = {}", chain_id.map(ChainId::as_i64))
            .and_some("UPPER(token_symbol) = UPPER({})", token_symbol);
        let sql = format!("SELECT {COLUMNS} FROM payments{} ORDER BY created_at, id", filter.clause());
        let rows = filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Payments on a chain that are waiting for confirmations.
    pub async fn processing_payments(&self, chain_id: ChainId) -> Result<Vec<Payment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM payments WHERE chain_id = $1 AND status = $2");
        let query = sqlx::query(&sql).bind(chain_id.as_i64()).bind(PaymentStatus::Processing.as_str());
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Payments with money seen but not yet credited: waiting for confirmations or for Transaction
    /// Safety. Oldest change first, with the total.
    pub async fn awaiting_confirmation(
        &self,
        chain_id: Option<ChainId>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Payment>, i64), StoreError> {
        let filter = Filter::default()
            .and("status = {}", PaymentStatus::Processing)
            .and_sql("tx_hash IS NOT NULL")
            .and_some("chain_id = {}", chain_id.map(ChainId::as_i64));
        let page = format!(
            "SELECT {COLUMNS} FROM payments{} ORDER BY updated_at, id LIMIT {} OFFSET {}",
            filter.clause(),
            filter.then(1),
            filter.then(2)
        );
        let rows = filter.bind(sqlx::query(&page)).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let count = format!("SELECT COUNT(*) FROM payments{}", filter.clause());
        let total: i64 = filter.bind(sqlx::query(&count)).fetch_one(&self.pool).await?.try_get(0)?;
        Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
    }

    /// Destinations created or re-pointed after `seq`, oldest first.
    pub async fn watch_changes(&self, after_seq: i64, limit: i64) -> Result<Vec<WatchEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT watch_seq, id, destination, status, provider, payment_reference, updated_at FROM payments \
             WHERE watch_seq > $1 ORDER BY watch_seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WatchEntry {
                    seq: row.try_get(0)?,
                    payment_id: parse_column(row, "id")?,
                    destination: parse_column(row, "destination")?,
                    status: parse_column(row, "status")?,
                    provider: parse_column(row, "provider")?,
                    reference: row
                        .try_get::<Option<String>, _>("payment_reference")?
                        .map(|r| r.parse().map_err(corrupt))
                        .transpose()?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }
}
