//! Quote rows: what an intent was quoted, kept for audit.

use super::{corrupt, Store, StoreError};
use crate::quote::Quote;
use crate::{ChainId, PaymentId};

impl Store {
    /// Records the quote an intent's payment was given.
    pub async fn insert_quote(
        &self,
        payment_id: &PaymentId,
        chain_id: ChainId,
        token_symbol: &str,
        quote: &Quote,
        now: i64,
    ) -> Result<String, StoreError> {
        let id = format!("qt_{}", ulid::Ulid::new());
        sqlx::query(
            "INSERT INTO quotes (id, payment_id, chain_id, token_symbol, usd_amount, price, price_decimals, feed, \
             round_id, price_updated_at, settle_amount, depeg_adjustment_bps, rounding_bps, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&id)
        .bind(payment_id.as_str())
        .bind(chain_id.as_i64())
        .bind(token_symbol)
        .bind(quote.usd_amount.to_string())
        .bind(quote.round.answer.to_string())
        .bind(i64::from(quote.round.decimals))
        .bind(format!("{:#x}", quote.round.feed))
        .bind(quote.round.round_id.to_string())
        .bind(i64::try_from(quote.round.updated_at).map_err(corrupt)?)
        .bind(quote.settle.to_string())
        .bind(quote.depeg_adjustment_bps)
        .bind(i64::from(quote.rounding_bps))
        .bind(quote.expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }
}
