//! A buyer's intent: a new payment at a freshly derived destination, the same open payment again,
//! or that open payment re-pointed at another rail (its metadata merged, the keys an admin wrote
//! kept). Never a second open payment for one offer.

use std::time::Duration;

use alloy::primitives::Address;

use crate::store::{NewPayment, Payment, Rail, Store, StoreError};
use crate::{DerivationIndex, PaymentStatus};

/// Derives the destination address of an index (custody implements it from the xpub).
pub trait AddressDeriver: Send + Sync {
    fn address(&self, index: DerivationIndex) -> Result<Address, String>;
}

/// What the buyer asked for.
#[derive(Debug, Clone)]
pub struct IntentRequest {
    pub buyer_id: String,
    pub seller_id: String,
    pub seller_offer_id: String,
    pub purchase_request_id: String,
    pub rail: Rail,
    pub metadata: serde_json::Value,
    pub ttl: Duration,
    /// The configured Request Network receiver (`PAYSCAN_RN_PAYEE`), if any.
    pub rn_payee: Option<Address>,
}

/// How the intent was met.
#[derive(Debug, Clone)]
pub enum IntentOutcome {
    Created(Payment),
    /// The same rail as the open payment: it is returned unchanged.
    Existing(Payment),
    /// The open payment now points at the new rail.
    Repointed(Payment),
}

impl IntentOutcome {
    pub fn payment(&self) -> &Payment {
        match self {
            Self::Created(p) | Self::Existing(p) | Self::Repointed(p) => p,
        }
    }
}

/// Why an intent was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot derive a destination: {0}")]
    Derive(String),
    /// Money for the open payment is already arriving on its rail.
    #[error("payment {0} is already processing on its rail; it cannot change rail")]
    InProgress(crate::PaymentId),
}

const ATTEMPTS: usize = 5;

/// Meets one intent atomically. Concurrent identical intents end with one payment.
pub async fn create_or_repoint(
    store: &Store,
    deriver: &dyn AddressDeriver,
    request: &IntentRequest,
    now: i64,
) -> Result<IntentOutcome, IntentError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_once(store, deriver, request, now).await {
            // Another request created the open payment first (PostgreSQL): read it next time.
            Err(IntentError::Store(e)) if attempt < ATTEMPTS && (e.is_unique_violation() || e.is_transient()) => {
                tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
            }
            other => return other,
        }
    }
}

async fn try_once(
    store: &Store,
    deriver: &dyn AddressDeriver,
    request: &IntentRequest,
    now: i64,
) -> Result<IntentOutcome, IntentError> {
    let expires_at = now + i64::try_from(request.ttl.as_millis()).unwrap_or(i64::MAX / 4);
    let mut tx = store.begin().await?;
    if let Some(mut open) = store.open_payment_for_offer(&mut tx, &request.buyer_id, &request.seller_offer_id).await? {
        if open.rail == request.rail {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(IntentOutcome::Existing(open));
        }
        if open.status != PaymentStatus::Pending {
            tx.rollback().await.map_err(StoreError::from)?;
            return Err(IntentError::InProgress(open.id));
        }
        store
            .repoint_payment(&mut tx, &mut open, request.rail.clone(), request.metadata.clone(), expires_at, now)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(IntentOutcome::Repointed(open));
    }
    let index = store.allocate_derivation_index(&mut tx).await?;
    let destination = deriver.address(index).map_err(IntentError::Derive)?;
    let new = NewPayment {
        buyer_id: request.buyer_id.clone(),
        seller_id: request.seller_id.clone(),
        seller_offer_id: request.seller_offer_id.clone(),
        purchase_request_id: request.purchase_request_id.clone(),
        rail: request.rail.clone(),
        metadata: request.metadata.clone(),
        expires_at,
        rn_payee: request.rn_payee,
    };
    let payment = store.insert_payment(&mut tx, new, index, destination, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(IntentOutcome::Created(payment))
}
