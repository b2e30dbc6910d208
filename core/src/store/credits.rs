//! Credits: each transfer seen to a watched destination, keyed by (chain, tx, log index) so that
//! nothing is credited twice.

use alloy::primitives::{Address, B256};
use sqlx::FromRow;

use super::column::{parsed, unsigned};
use super::{corrupt, Store, StoreError, Tx};
use crate::reference::PaymentReference;
use crate::{BaseUnits, ChainId, PaymentId};

/// One ERC-20 transfer to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub chain_id: ChainId,
    pub tx_hash: B256,
    pub log_index: u64,
    pub payment_id: PaymentId,
    pub block_number: u64,
    pub block_hash: B256,
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: BaseUnits,
    /// On the payment's own chain and token, so it counts toward the amount.
    pub counted: bool,
    /// Its block left the canonical chain.
    pub reverted: bool,
    /// Paid through Request Network's fee proxy: the reference and fee it carried.
    pub proxy: Option<ProxyPayment>,
}

/// What a `TransferWithReferenceAndFee` log adds to a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPayment {
    pub reference: PaymentReference,
    /// Paid on top of `amount`, to `fee_address`; never part of the payment.
    pub fee_amount: BaseUnits,
    pub fee_address: Address,
}

impl Credit {
    /// The shape webhooks and the API showed a transfer in before `CreditedTransfer` typed it:
    /// the tests hold the type to it.
    #[cfg(test)]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "chainId": self.chain_id,
            "txHash": format!("{:#x}", self.tx_hash),
            "logIndex": self.log_index,
            "blockNumber": self.block_number,
            "blockHash": format!("{:#x}", self.block_hash),
            "token": self.token.to_checksum(None),
            "from": self.from.to_checksum(None),
            "amountBaseUnits": self.amount,
            "counted": self.counted,
            "reverted": self.reverted,
            "paymentReference": self.proxy.as_ref().map(|p| p.reference.to_string()),
            "feeAmountBaseUnits": self.proxy.as_ref().map(|p| p.fee_amount),
            "feeAddress": self.proxy.as_ref().map(|p| p.fee_address.to_checksum(None)),
        })
    }
}

/// The columns every credit read selects, in [`CreditRow`]'s names.
const COLUMNS: &str = "chain_id, tx_hash, log_index, payment_id, block_number, block_hash, token_address, \
    from_address, to_address, amount, counted, reverted, payment_reference, fee_amount, fee_address";

/// A `credits` row as the database holds it.
#[derive(Debug, FromRow)]
struct CreditRow {
    chain_id: i64,
    tx_hash: String,
    log_index: i64,
    payment_id: String,
    block_number: i64,
    block_hash: String,
    token_address: String,
    from_address: String,
    to_address: String,
    amount: String,
    counted: i64,
    reverted: i64,
    /// Set, with the fee's columns, when the transfer came through the fee proxy.
    payment_reference: Option<String>,
    fee_amount: Option<String>,
    fee_address: Option<String>,
}

impl TryFrom<CreditRow> for Credit {
    type Error = StoreError;

    fn try_from(row: CreditRow) -> Result<Self, StoreError> {
        let proxy = match row.payment_reference {
            Some(reference) => Some(ProxyPayment {
                reference: parsed("payment_reference", &reference)?,
                fee_amount: parsed("fee_amount", row.fee_amount.as_deref().unwrap_or_default())?,
                fee_address: parsed("fee_address", row.fee_address.as_deref().unwrap_or_default())?,
            }),
            None => None,
        };
        Ok(Credit {
            chain_id: ChainId(unsigned("chain_id", row.chain_id)?),
            tx_hash: parsed("tx_hash", &row.tx_hash)?,
            log_index: unsigned("log_index", row.log_index)?,
            payment_id: parsed("payment_id", &row.payment_id)?,
            block_number: unsigned("block_number", row.block_number)?,
            block_hash: parsed("block_hash", &row.block_hash)?,
            token: parsed("token_address", &row.token_address)?,
            from: parsed("from_address", &row.from_address)?,
            to: parsed("to_address", &row.to_address)?,
            amount: parsed("amount", &row.amount)?,
            counted: row.counted != 0,
            reverted: row.reverted != 0,
            proxy,
        })
    }
}

impl Store {
    /// Records a credit; false when this (chain, tx, log index) is already credited. A credit that a
    /// reorg reverted is revived at its new block instead, so a log is credited once whatever the
    /// branch it lands in.
    pub async fn insert_credit(&self, tx: &mut Tx, credit: &Credit, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO credits (chain_id, tx_hash, log_index, payment_id, block_number, block_hash, \
             token_address, from_address, to_address, amount, counted, created_at, payment_reference, fee_amount, \
             fee_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (chain_id, tx_hash, log_index) DO UPDATE SET reverted = 0, \
             block_number = excluded.block_number, block_hash = excluded.block_hash, created_at = excluded.created_at \
             WHERE credits.reverted = 1",
        )
        .bind(credit.chain_id.as_i64())
        .bind(format!("{:#x}", credit.tx_hash))
        .bind(i64::try_from(credit.log_index).map_err(corrupt)?)
        .bind(credit.payment_id.as_str())
        .bind(i64::try_from(credit.block_number).map_err(corrupt)?)
        .bind(format!("{:#x}", credit.block_hash))
        .bind(format!("{:#x}", credit.token))
        .bind(format!("{:#x}", credit.from))
        .bind(format!("{:#x}", credit.to))
        .bind(credit.amount.to_string())
        .bind(i64::from(credit.counted))
        .bind(now)
        .bind(credit.proxy.as_ref().map(|p| p.reference.to_string()))
        .bind(credit.proxy.as_ref().map(|p| p.fee_amount.to_string()))
        .bind(credit.proxy.as_ref().map(|p| format!("{:#x}", p.fee_address)))
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A payment's credits in chain order.
    pub async fn credits_of(&self, payment_id: &PaymentId) -> Result<Vec<Credit>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM credits WHERE payment_id = $1 ORDER BY block_number, log_index");
        let rows = sqlx::query_as::<_, CreditRow>(&sql).bind(payment_id.as_str()).fetch_all(&self.pool).await?;
        rows.into_iter().map(Credit::try_from).collect()
    }

    /// Live (not reverted) credits on a chain above `block`, locked with the transaction.
    pub async fn live_credits_above(
        &self,
        tx: &mut Tx,
        chain_id: ChainId,
        block: u64,
    ) -> Result<Vec<Credit>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM credits WHERE chain_id = $1 AND block_number > $2 AND reverted = 0 \
             ORDER BY block_number, log_index"
        );
        let rows = sqlx::query_as::<_, CreditRow>(&sql)
            .bind(chain_id.as_i64())
            .bind(i64::try_from(block).map_err(corrupt)?)
            .fetch_all(&mut **tx)
            .await?;
        rows.into_iter().map(Credit::try_from).collect()
    }

    /// Marks every live credit on a chain above `block` reverted; returns how many.
    pub async fn revert_credits_above(&self, tx: &mut Tx, chain_id: ChainId, block: u64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE credits SET reverted = 1 WHERE chain_id = $1 AND block_number > $2 AND reverted = 0")
                .bind(chain_id.as_i64())
                .bind(i64::try_from(block).map_err(corrupt)?)
                .execute(&mut **tx)
                .await?;
        Ok(done.rows_affected())
    }

    /// A payment's live credits, inside a transaction.
    pub async fn live_credits_of(&self, tx: &mut Tx, payment_id: &PaymentId) -> Result<Vec<Credit>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM credits WHERE payment_id = $1 AND reverted = 0 ORDER BY block_number, log_index"
        );
        let rows = sqlx::query_as::<_, CreditRow>(&sql).bind(payment_id.as_str()).fetch_all(&mut **tx).await?;
        rows.into_iter().map(Credit::try_from).collect()
    }
}
