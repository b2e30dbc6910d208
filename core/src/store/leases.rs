//! Chain leases: which instance follows a chain. A lease is held until it expires; its holder
//! renews it well before then, and anyone may take an expired one.

use sqlx::FromRow;

use super::column::unsigned;
use super::{Store, StoreError, Tx};
use crate::ChainId;

/// A chain lease as its holder's follower checks it in each transaction that writes for the chain.
#[derive(Debug, Clone)]
pub struct HeldLease {
    pub chain_id: ChainId,
    pub holder: String,
    pub ttl_ms: i64,
}

/// A `chain_leases` row, as the lease list reads it.
#[derive(Debug, FromRow)]
struct LeaseRow {
    chain_id: i64,
    holder: String,
    expires_at: i64,
}

impl LeaseRow {
    /// `(chain, holder, expires_at)`.
    fn into_lease(self) -> Result<(ChainId, String, i64), StoreError> {
        Ok((ChainId(unsigned("chain_id", self.chain_id)?), self.holder, self.expires_at))
    }
}

impl Store {
    /// Takes or renews the lease of `chain_id` for `holder` until `now + ttl_ms`; true when
    /// `holder` holds it afterwards.
    pub async fn try_lease(&self, chain_id: ChainId, holder: &str, ttl_ms: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO chain_leases (chain_id, holder, expires_at, acquired_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chain_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
             acquired_at = CASE WHEN chain_leases.holder = excluded.holder THEN chain_leases.acquired_at \
             ELSE excluded.acquired_at END \
             WHERE chain_leases.holder = excluded.holder OR chain_leases.expires_at < $4",
        )
        .bind(chain_id.as_i64())
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends `lease` to `now + ttl` inside `tx` if its holder still holds it; false when another
    /// instance took it over or it was given up, and then `tx` must not commit. The row stays
    /// locked until `tx` ends: a takeover waits for the commit, and sees the extended lease.
    pub async fn hold_lease(&self, tx: &mut Tx, lease: &HeldLease, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE chain_leases SET expires_at = $3 WHERE chain_id = $1 AND holder = $2")
            .bind(lease.chain_id.as_i64())
            .bind(&lease.holder)
            .bind(now + lease.ttl_ms)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a lease up so that another instance takes the chain at once.
    pub async fn release_lease(&self, chain_id: ChainId, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM chain_leases WHERE chain_id = $1 AND holder = $2")
            .bind(chain_id.as_i64())
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who holds each chain's lease: `(chain, holder, expires_at)`.
    pub async fn leases(&self) -> Result<Vec<(ChainId, String, i64)>, StoreError> {
        let rows =
            sqlx::query_as::<_, LeaseRow>("SELECT chain_id, holder, expires_at FROM chain_leases ORDER BY chain_id")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(LeaseRow::into_lease).collect()
    }
}
