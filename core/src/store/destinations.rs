//! Derived destinations as custody sees them: one per payment, with the last balance read from
//! the chain and what sweeps moved out.

use alloy::primitives::Address;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{corrupt, parse_column, Store, StoreError};
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

fn from_row(row: &AnyRow) -> Result<Destination, StoreError> {
    let index: i64 = row.try_get("derivation_index")?;
    let balance: Option<String> = row.try_get("balance")?;
    let total_swept: Option<String> = row.try_get("total_swept")?;
    let sweep_count: Option<i64> = row.try_get("sweep_count")?;
    Ok(Destination {
        payment_id: parse_column(row, "id")?,
        buyer_id: row.try_get("buyer_id")?,
        seller_offer_id: row.try_get("seller_offer_id")?,
        address: parse_column(row, "destination")?,
        derivation_index: u32::try_from(index).ok().and_then(DerivationIndex::new).ok_or_else(|| corrupt(index))?,
        chain_id: ChainId(u64::try_from(row.try_get::<i64, _>("chain_id")?).map_err(corrupt)?),
        token: parse_column(row, "token_address")?,
        token_symbol: row.try_get("token_symbol")?,
        balance: balance.map(|b| b.parse().map_err(corrupt)).transpose()?,
        refreshed_at: row.try_get("refreshed_at")?,
        sweep_count: u64::try_from(sweep_count.unwrap_or(0)).map_err(corrupt)?,
        total_swept: total_swept.map(|t| t.parse().map_err(corrupt)).transpose()?.unwrap_or_default(),
        swept_at: row.try_get("swept_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Destinations matching `filter`, newest first, with the total.
    pub async fn destinations(
        &self,
        filter: &DestinationFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Destination>, i64), StoreError> {
        let mut conditions = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        // Text parameters first ($1…), then numbers, then limit and offset.
        if let Some(buyer) = &filter.buyer_id {
            texts.push(buyer.clone());
            conditions.push(format!("p.buyer_id = ${}", texts.len()));
        }
        if let Some(offer) = &filter.seller_offer_id {
            texts.push(offer.clone());
            conditions.push(format!("p.seller_offer_id = ${}", texts.len()));
        }
        if let Some(address) = &filter.address {
            texts.push(format!("{address:#x}"));
            conditions.push(format!("p.destination = ${}", texts.len()));
        }
        if let Some(chain) = filter.chain_id {
            numbers.push(chain.as_i64());
            conditions.push(format!("p.chain_id = ${}", texts.len() + numbers.len()));
        }
        match filter.swept {
            Some(true) => conditions.push("d.swept_at IS NOT NULL".to_owned()),
            Some(false) => conditions.push("d.swept_at IS NULL".to_owned()),
            None => {}
        }
        let filter_sql =
            if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        let n = texts.len() + numbers.len();
        let page_sql =
            format!("{SELECT}{filter_sql} ORDER BY p.created_at DESC, p.id DESC LIMIT ${} OFFSET ${}", n + 1, n + 2);
        let count_sql =
            format!("SELECT COUNT(*) FROM payments p LEFT JOIN destination_state d ON d.payment_id = p.id{filter_sql}");
        let mut page = sqlx::query(&page_sql);
        let mut count = sqlx::query(&count_sql);
        for text in &texts {
            page = page.bind(text.clone());
            count = count.bind(text.clone());
        }
        for number in &numbers {
            page = page.bind(*number);
            count = count.bind(*number);
        }
        let rows = page.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total: i64 = count.fetch_one(&self.pool).await?.try_get(0)?;
        Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
    }

    /// One destination by its payment id.
    pub async fn destination(&self, payment_id: &PaymentId) -> Result<Option<Destination>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE p.id = $1"))
            .bind(payment_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// How many sweeps a destination has had (the next sweep's number).
    pub async fn sweep_count(&self, payment_id: &PaymentId) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT sweep_count FROM destination_state WHERE payment_id = $1")
            .bind(payment_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| u64::try_from(r.try_get::<i64, _>(0)?).map_err(corrupt)).transpose().map(Option::unwrap_or_default)
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
        let current: String = sqlx::query("SELECT total_swept FROM destination_state WHERE payment_id = $1")
            .bind(payment.id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let total = current
            .parse::<BaseUnits>()
            .map_err(corrupt)?
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
        let row = sqlx::query("SELECT running, started_at, last_run FROM sweep_cron WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(SweepCronState::default()) };
        Ok(SweepCronState {
            running: row.try_get::<i64, _>(0)? != 0,
            started_at: row.try_get(1)?,
            last_run: row.try_get(2)?,
        })
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
