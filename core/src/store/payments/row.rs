//! A `payments` row as the database holds it, and the checks that make it a [`Payment`].

use sqlx::any::AnyRow;
use sqlx::FromRow;

use super::{Payment, Rail, RnTerms, TokenRef};
use crate::store::{corrupt, StoreError};
use crate::{ChainId, DerivationIndex};

/// The columns every payment read selects, in [`PaymentRow`]'s names.
pub(in crate::store) const COLUMNS: &str = "id, buyer_id, seller_id, seller_offer_id, purchase_request_id, provider, \
    status, escrow_state, chain_id, token_address, token_symbol, token_decimals, amount, received, destination, \
    derivation_index, confirmations, tx_hash, underpaid, safety, metadata, expires_at, created_at, updated_at, \
    completed_at, rn_payee, payment_reference, salt";

#[derive(Debug, FromRow)]
struct PaymentRow {
    id: String,
    buyer_id: String,
    seller_id: String,
    seller_offer_id: String,
    purchase_request_id: String,
    provider: String,
    status: String,
    escrow_state: String,
    chain_id: i64,
    token_address: String,
    token_symbol: String,
    token_decimals: i64,
    amount: String,
    received: String,
    destination: String,
    derivation_index: i64,
    confirmations: i64,
    tx_hash: Option<String>,
    underpaid: i64,
    safety: Option<String>,
    metadata: String,
    expires_at: i64,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    rn_payee: Option<String>,
    payment_reference: Option<String>,
    salt: Option<String>,
}

/// Text of `column` parsed into its type; what does not parse is a corrupt row.
fn parsed<T>(column: &str, text: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| corrupt(format!("column {column} `{text}`: {e}")))
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;

    fn try_from(row: PaymentRow) -> Result<Self, StoreError> {
        let rn = match (row.rn_payee, row.payment_reference, row.salt) {
            (Some(payee), Some(reference), Some(salt)) => Some(RnTerms {
                payee: parsed("rn_payee", &payee)?,
                reference: parsed("payment_reference", &reference)?,
                salt,
            }),
            _ => None,
        };
        let index = row.derivation_index;
        Ok(Payment {
            id: parsed("id", &row.id)?,
            buyer_id: row.buyer_id,
            seller_id: row.seller_id,
            seller_offer_id: row.seller_offer_id,
            purchase_request_id: row.purchase_request_id,
            rail: Rail {
                provider: parsed("provider", &row.provider)?,
                chain_id: ChainId(u64::try_from(row.chain_id).map_err(corrupt)?),
                token: TokenRef {
                    symbol: row.token_symbol,
                    address: parsed("token_address", &row.token_address)?,
                    decimals: u8::try_from(row.token_decimals).map_err(corrupt)?,
                },
                amount: parsed("amount", &row.amount)?,
            },
            status: parsed("status", &row.status)?,
            escrow: parsed("escrow_state", &row.escrow_state)?,
            received: parsed("received", &row.received)?,
            destination: parsed("destination", &row.destination)?,
            derivation_index: u32::try_from(index)
                .ok()
                .and_then(DerivationIndex::new)
                .ok_or_else(|| corrupt(format!("derivation index {index}")))?,
            confirmations: u64::try_from(row.confirmations).map_err(corrupt)?,
            tx_hash: row.tx_hash.map(|h| parsed("tx_hash", &h)).transpose()?,
            underpaid: row.underpaid != 0,
            safety: row.safety.map(|s| serde_json::from_str(&s).map_err(corrupt)).transpose()?,
            metadata: serde_json::from_str(&row.metadata).map_err(corrupt)?,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
            rn,
        })
    }
}

/// A payment from a row that selected [`COLUMNS`].
pub(in crate::store) fn from_row(row: &AnyRow) -> Result<Payment, StoreError> {
    PaymentRow::from_row(row)?.try_into()
}
