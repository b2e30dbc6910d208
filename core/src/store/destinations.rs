//! Derived destinations as custody sees them: one per payment, with the last balance read from
//! the chain and what sweeps moved out.

use alloy::primitives::Address;
use sqlx::FromRow;

use super::column::{parsed, parsed_opt, unsigned};
use super::filter::Filter;
use super::{corrupt, Store, StoreError};
use crate::{BaseUnits, ChainId, DerivationIndex, PaymentId};

/// A destination, for the admin list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub payment_id: PaymentId,
    pub buyer_id: String,
    pub seller_offer_id: String,
    pub address: Address,
    pub derivation_index: DerivationIndex,
    pub chain_id: ChainId,
    pub token: Address,
    pub token_symbol: String,
    /// The last balance read from the chain, if ever.
    pub balance: Option<BaseUnits>,
    pub refreshed_at: Option<i64>,
    pub sweep_count: u64,
    pub total_swept: BaseUnits,
    pub swept_at: Option<i64>,
    pub created_at: i64,
}

impl Destination {
    /// `swept` once a sweep emptied it, else `active`.
    pub fn status(&self) -> &'static str {
        if self.swept_at.is_some() {
            "swept"
        } else {
            "active"
        }
    }
}

/// Filters of the destinations list.
#[derive(Debug, Clone, Default)]
pub struct DestinationFilter {
    pub buyer_id: Option<String>,
    pub seller_offer_id: Option<String>,
    pub address: Option<Address>,
    pub chain_id: Option<ChainId>,
    /// `Some(true)`: swept only; `Some(false)`: active only.
    pub swept: Option<bool>,
}

const SELECT: &str = "SELECT p.id, p.buyer_id, p.seller_offer_id, p.destination, p.derivation_index, p.chain_id, \
    p.token_address, p.token_symbol, p.created_at, d.balance, d.refreshed_at, d.sweep_count, d.total_swept, d.swept_at \
    FROM payments p LEFT JOIN destination_state d ON d.payment_id = p.id";

/// A payment joined with its destination state, as [`SELECT`] reads it.
#[derive(Debug, FromRow)]
struct DestinationRow {
    id: String,
    buyer_id: String,
    seller_offer_id: String,
    destination: String,
    derivation_index: i64,
    chain_id: i64,
    token_address: String,
    token_symbol: String,
    created_at: i64,
    /// The state's columns are NULL until a balance is first read or a sweep recorded.
    balance: Option<String>,
    refreshed_at: Option<i64>,
    sweep_count: Option<i64>,
    total_swept: Option<String>,
    swept_at: Option<i64>,
}

impl TryFrom<DestinationRow> for Destination {
    type Error = StoreError;

    fn try_from(row: DestinationRow) -> Result<Self, StoreError> {
        let index = row.derivation_index;
        Ok(Destination {
            payment_id: parsed("id", &row.id)?,
            buyer_id: row.buyer_id,
            seller_offer_id: row.seller_offer_id,
            address: parsed("destination", &row.destination)?,
            derivation_index: u32::try_from(index)
                .ok()
                .and_then(DerivationIndex::new)
                .ok_or_else(|| corrupt(format!("column derivation_index {index}")))?,
            chain_id: ChainId(unsigned("chain_id", row.chain_id)?),
            token: parsed("token_address", &row.token_address)?,
            token_symbol: row.token_symbol,
            balance: parsed_opt("balance", row.balance.as_deref())?,
            refreshed_at: row.refreshed_at,
            sweep_count: unsigned("sweep_count", row.sweep_count.unwrap_or(0))?,
            total_swept: parsed_opt("total_swept", row.total_swept.as_deref())?.unwrap_or_default(),
            swept_at: row.swept_at,
            created_at: row.created_at,
        })
    }
}

impl Store {
    /// Destinations matching `filter`, newest first, with the total.
    pub async fn destinations(
        &self,
        filter: &DestinationFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Destination>, i64), StoreError> {
        let swept = match filter.swept {
            Some(true) => Some("d.swept_at IS NOT NULL"),
            Some(false) => Some("d.swept_at IS NULL"),
            None => None,
        };
        let conditions = Filter::default()
            .and_some("p.buyer_id = {}", filter.buyer_id.as_deref())
            .and_some("p.seller_offer_id = {}", filter.seller_offer_id.as_deref())
            .and_some("p.destination = {}", filter.address.map(|a| format!("{a:#x}")))
            .and_some("p.chain_id = {}", filter.chain_id.map(ChainId::as_i64));
        let conditions = match swept {
            Some(condition) => conditions.and_sql(condition),
            None => conditions,
        };
        let page_sql = format!(
            "{SELECT}{} ORDER BY p.created_at DESC, p.id DESC LIMIT {} OFFSET {}",
            conditions.clause(),
            conditions.then(1),
            conditions.then(2)
        );
        let count_sql = format!(
            "SELECT COUNT(*) FROM payments p LEFT JOIN destination_state d ON d.payment_id = p.id{}",
            conditions.clause()
        );
        let rows = conditions
            .bind_as(sqlx::query_as::<_, DestinationRow>(&page_sql))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = conditions.bind_scalar(sqlx::query_scalar(&count_sql)).fetch_one(&self.pool).await?;
        Ok((rows.into_iter().map(Destination::try_from).collect::<Result<_, _>>()?, total))
    }

    /// One destination by its payment id.
    pub async fn destination(&self, payment_id: &PaymentId) -> Result<Option<Destination>, StoreError> {
        let row = sqlx::query_as::<_, DestinationRow>(&format!("{SELECT} WHERE p.id = $1"))
            .bind(payment_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Destination::try_from).transpose()
    }

    /// How many sweeps a destination has had (the next sweep's number).
    pub async fn sweep_count(&self, payment_id: &PaymentId) -> Result<u64, StoreError> {
        let count: Option<i64> = sqlx::query_scalar("SELECT sweep_count FROM destination_state WHERE payment_id = $1")
            .bind(payment_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        count.map(|c| unsigned("sweep_count", c)).transpose().map(Option::unwrap_or_default)
    }

    /// Sweep number `number` moved `amount` out: counts it and writes the ledger's two entries, in
    /// one transaction, once (a second call for the same number changes nothing).
    pub async fn record_sweep(
        &self,
        payment: &crate::store::Payment,
        number: u64,
        master: Address,
        amount: BaseUnits,
        tx_hash: alloy::primitives::B256,
        now: i64,
    ) -> Result<(), StoreError> {
        use crate::store::ledger::{Direction, EntryKind};
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO destination_state (payment_id, balance, refreshed_at) VALUES ($1, '0', $2) \
             ON CONFLICT (payment_id) DO NOTHING",
        )
        .bind(payment.id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Compare-and-set on the count: of two instances recording the same sweep at once, the
        // second waits on the row's lock, then finds the count moved on and writes nothing.
        let taken = sqlx::query(
            "UPDATE destination_state SET sweep_count = sweep_count + 1, balance = '0', refreshed_at = $2, \
             swept_at = $2 WHERE payment_id = $1 AND sweep_count = $3",
        )
        .bind(payment.id.as_str())
        .bind(now)
        .bind(i64::try_from(number).map_err(corrupt)?)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(());
        }
        let current: String = sqlx::query_scalar("SELECT total_swept FROM destination_state WHERE payment_id = $1")
            .bind(payment.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let total = parsed::<BaseUnits>("total_swept", &current)?
            .checked_add(amount)
            .ok_or_else(|| corrupt("total swept overflows"))?;
        sqlx::query("UPDATE destination_state SET total_swept = $2 WHERE payment_id = $1")
            .bind(payment.id.as_str())
            .bind(total.to_string())
            .execute(&mut *tx)
            .await?;
        let (chain, token) = (payment.rail.chain_id, payment.rail.token.address);
        for (account, direction) in [(payment.destination, Direction::Out), (master, Direction::In)] {
            self.record_movement(
                &mut tx,
                EntryKind::Swept,
                &payment.id,
                &payment.buyer_id,
                chain,
                token,
                account,
                direction,
                amount,
                tx_hash,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a balance just read from the chain.
    pub async fn save_destination_balance(
        &self,
        payment_id: &PaymentId,
        balance: BaseUnits,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO destination_state (payment_id, balance, refreshed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (payment_id) DO UPDATE SET balance = $2, refreshed_at = $3",
        )
        .bind(payment_id.as_str())
        .bind(balance.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The sweep cron as the database holds it, shared by every instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepCronState {
    pub running: bool,
    /// When it was last started (its first run is due then).
    pub started_at: Option<i64>,
    /// The last run's report as JSON, whichever instance made it.
    pub last_run: Option<String>,
}

/// The `sweep_cron` row.
#[derive(Debug, FromRow)]
struct SweepCronRow {
    running: i64,
    started_at: Option<i64>,
    last_run: Option<String>,
}

impl From<SweepCronRow> for SweepCronState {
    fn from(row: SweepCronRow) -> Self {
        Self { running: row.running != 0, started_at: row.started_at, last_run: row.last_run }
    }
}

impl Store {
    /// Sets the cron's first state unless an instance or an admin set one before.
    pub async fn seed_sweep_cron(&self, running: bool, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sweep_cron (id, running, started_at, updated_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(i64::from(running))
        .bind(running.then_some(now))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Starts or stops the cron for every instance.
    pub async fn set_sweep_cron(&self, running: bool, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sweep_cron (id, running, started_at, updated_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET running = excluded.running, \
             started_at = COALESCE(excluded.started_at, sweep_cron.started_at), updated_at = excluded.updated_at",
        )
        .bind(i64::from(running))
        .bind(running.then_some(now))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn sweep_cron(&self) -> Result<SweepCronState, StoreError> {
        let row =
            sqlx::query_as::<_, SweepCronRow>("SELECT running, started_at, last_run FROM sweep_cron WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(SweepCronState::from).unwrap_or_default())
    }

    /// Records the report of a cron run.
    pub async fn save_sweep_cron_run(&self, report: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sweep_cron SET last_run = $1, updated_at = $2 WHERE id = 1")
            .bind(report)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
