//! Sending transactions so that each leaves once. Every transaction gets its nonce explicitly
//! from the database's allocator for its (chain, sender), is signed and recorded before it is
//! broadcast, and is idempotent by (purpose, reference): asking again returns the same one. A
//! tracker step polls receipts itself, broadcasts again what the node never took (a send that
//! failed at the RPC leaves no gap), and replaces a transaction still unmined past its deadline
//! at the same nonce with a bumped fee, never above the cap.

use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::TransportError;
use payscan_chain::Endpoints;
use payscan_core::redact::{redact_url, scrub_urls};
use payscan_core::store::outbound::{OutboundStatus, OutboundTx};
use payscan_core::store::{Store, StoreError};
use payscan_core::{clock, failpoint, ChainId, EscrowState, PaymentId, PaymentStatus};
use tracing::{info, warn};

/// Why a send or a tracking step failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Transport errors quote the URL they failed on: shown with every URL redacted.
    #[error("rpc: {}", scrub_urls(&.0.to_string()))]
    Rpc(#[from] TransportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chain(#[from] payscan_chain::ChainError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the network asks {asked} wei per gas, above the {cap} cap")]
    FeeAboveCap { asked: u128, cap: u128 },
    /// The endpoints, by their redacted labels.
    #[error("rpc endpoints `{0}` are not all URLs")]
    BadUrl(String),
    /// Sent and recorded, not mined within the wait: tracking goes on.
    #[error("transaction {0} is not mined yet; the next run picks it up")]
    NotMinedYet(B256),
    /// The guard found that the transaction must not be sent now; nothing was signed.
    #[error("{0}")]
    Refused(String),
}

/// What must still hold when a transaction is signed, checked in the database transaction that
/// allocates its nonce and records it, with the payment's row locked: a check made earlier could
/// be stale by then (a reorg, a concurrent request).
#[derive(Debug, Clone, Copy)]
pub enum Guard<'a> {
    None,
    /// A release or refund: the payment is still completed with its escrow funded.
    EscrowFunded(&'a PaymentId),
    /// A permit for a payment: no other permit of that payment is in flight or mined. Permit
    /// references start with `"{payment id}:"`.
    OnePermit(&'a PaymentId),
}

/// Replacement policy.
#[derive(Debug, Clone, Copy)]
pub struct OutboundSettings {
    /// How long a transaction may stay unmined before it is replaced with a higher fee.
    pub replace_after: Duration,
    /// Each replacement raises both fees by this many basis points (nodes want at least 10%).
    pub bump_bps: u32,
    /// No fee above this many wei per gas, however long a transaction waits.
    pub max_fee_cap: u128,
    pub rpc_timeout: Duration,
    /// A transaction whose nonce is taken while the node knows none of its hashes counts as
    /// dropped only once that has held this long (a node may count a nonce before it serves the
    /// receipt, and a wrongly dropped payout would be paid again).
    pub drop_grace: Duration,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            replace_after: Duration::from_secs(60),
            bump_bps: 1_250,
            max_fee_cap: 1_000_000_000_000,
            rpc_timeout: Duration::from_secs(10),
            drop_grace: Duration::from_secs(30),
        }
    }
}

/// What a caller wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRequest {
    pub to: Address,
    pub value: U256,
    pub data: Bytes,
    pub gas_limit: u64,
}

/// What one tracking step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrackReport {
    pub mined: usize,
    pub rebroadcast: usize,
    pub replaced: usize,
    pub pending: usize,
    pub dropped: usize,
}

/// Sends from one key on one chain.
pub struct Sender {
    store: Store,
    provider: RootProvider,
    chain_id: ChainId,
    signer: PrivateKeySigner,
    settings: OutboundSettings,
}

impl Sender {
    pub fn new(
        store: Store,
        endpoints: &[&str],
        chain_id: ChainId,
        signer: PrivateKeySigner,
        settings: OutboundSettings,
    ) -> Result<Self, OutboundError> {
        let provider = Endpoints::new(endpoints, settings.rpc_timeout).connect().map_err(|_| {
            OutboundError::BadUrl(endpoints.iter().map(|u| redact_url(u)).collect::<Vec<_>>().join(", "))
        })?;
        Ok(Self { store, provider, chain_id, signer, settings })
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs, records and broadcasts `request`, once per `(purpose, reference)`: a repeated call
    /// returns the transaction recorded the first time. A broadcast that fails is left to
    /// [`Sender::track`]; the transaction is recorded either way.
    pub async fn send(&self, purpose: &str, reference: &str, request: &TxRequest) -> Result<OutboundTx, OutboundError> {
        self.send_guarded(purpose, reference, request, Guard::None).await
    }

    /// [`Sender::send`], signing only if `guard` holds in the transaction that records it.
    pub async fn send_guarded(
        &self,
        purpose: &str,
        reference: &str,
        request: &TxRequest,
        guard: Guard<'_>,
    ) -> Result<OutboundTx, OutboundError> {
        if let Some(existing) = self.store.outbound_by_reference(purpose, reference).await? {
            return Ok(existing);
        }
        let fees = self.provider.estimate_eip1559_fees().await?;
        if fees.max_fee_per_gas > self.settings.max_fee_cap {
            return Err(OutboundError::FeeAboveCap { asked: fees.max_fee_per_gas, cap: self.settings.max_fee_cap });
        }
        let chain_next = self.provider.get_transaction_count(self.address()).pending().await?;
        let now = clock::now_ms();

        let mut tx = self.store.begin().await?;
        if let Some(refusal) = self.refusal(&mut tx, purpose, guard).await? {
            return Err(OutboundError::Refused(refusal));
        }
        let nonce = self.store.allocate_nonce(&mut tx, self.chain_id, self.address(), chain_next).await?;
        let (raw, hash) = self.sign(nonce, request, fees.max_fee_per_gas, fees.max_priority_fee_per_gas)?;
        let mut out = OutboundTx {
            id: 0,
            chain_id: self.chain_id,
            sender: self.address(),
            nonce,
            purpose: purpose.to_owned(),
            reference: reference.to_owned(),
            to: request.to,
            value: request.value,
            data: request.data.clone(),
            gas_limit: request.gas_limit,
            max_fee: fees.max_fee_per_gas,
            priority_fee: fees.max_priority_fee_per_gas,
            raw,
            tx_hash: hash,
            hashes: vec![hash],
            status: OutboundStatus::Pending,
            attempts: 1,
            block_number: None,
            last_error: None,
            replace_at: now + millis(self.settings.replace_after),
            suspected_at: None,
        };
        match self.store.insert_outbound(&mut tx, &out, now).await {
            Ok(id) => out.id = id,
            // A concurrent call for the same reference won: the nonce goes back with the rollback.
            Err(e) if e.is_unique_violation() => {
                drop(tx);
                if let Some(existing) = self.store.outbound_by_reference(purpose, reference).await? {
                    return Ok(existing);
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.broadcast(&out).await?;
        failpoint::reached("outbound.broadcast");
        Ok(out)
    }

    /// Why `guard` does not hold, read with the payment's row locked.
    async fn refusal(
        &self,
        tx: &mut payscan_core::store::Tx,
        purpose: &str,
        guard: Guard<'_>,
    ) -> Result<Option<String>, OutboundError> {
        let id = match guard {
            Guard::None => return Ok(None),
            Guard::EscrowFunded(id) | Guard::OnePermit(id) => id,
        };
        let Some(payment) = self.store.payment_for_update(tx, id).await? else {
            return Ok(Some(format!("payment {id} not found")));
        };
        Ok(match guard {
            Guard::EscrowFunded(_)
                if payment.status != PaymentStatus::Completed || payment.escrow != EscrowState::Funded =>
            {
                Some(format!(
                    "payment {id} is {} with escrow {} now (a reorg may have taken its money back): \
                     nothing was sent",
                    payment.status,
                    payment.escrow.as_str()
                ))
            }
            Guard::OnePermit(_) if self.store.live_outbound_with_prefix(tx, purpose, &format!("{id}:")).await? > 0 => {
                Some(format!("a permit for payment {id} was already relayed (in flight or mined)"))
            }
            _ => None,
        })
    }

    fn sign(
        &self,
        nonce: u64,
        request: &TxRequest,
        max_fee: u128,
        priority_fee: u128,
    ) -> Result<(Bytes, B256), OutboundError> {
        let mut tx = TxEip1559 {
            chain_id: self.chain_id.0,
            nonce,
            gas_limit: request.gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority_fee.min(max_fee),
            to: TxKind::Call(request.to),
            value: request.value,
            access_list: Default::default(),
            input: request.data.clone(),
        };
        let signature = self.signer.sign_transaction_sync(&mut tx).map_err(|e| OutboundError::Sign(e.to_string()))?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok((Bytes::from(envelope.encoded_2718()), *envelope.tx_hash()))
    }

    /// Sends the latest attempt. "Already known" and "nonce too low" mean the node has one with
    /// this nonce: the receipt will tell which.
    async fn broadcast(&self, out: &OutboundTx) -> Result<(), OutboundError> {
        if let Err(e) = self.provider.send_raw_transaction(&out.raw).await {
            let message = e.to_string();
            let known = ["already known", "nonce too low", "already imported", "known transaction"]
                .iter()
                .any(|m| message.to_ascii_lowercase().contains(m));
            if !known {
                warn!(chain_id = %self.chain_id, nonce = out.nonce, error = %message, "broadcast failed; the tracker will retry");
                self.store.note_outbound_error(out.id, &message, clock::now_ms()).await?;
            }
        }
        Ok(())
    }

    /// One step over this sender's unmined transactions: receipts, broadcasts again, replacements.
    pub async fn track(&self) -> Result<TrackReport, OutboundError> {
        let mut report = TrackReport::default();
        let pending = self.store.pending_outbound(self.chain_id, self.address()).await?;
        if pending.is_empty() {
            return Ok(report);
        }
        // Read before the receipts: a nonce below it whose hashes have no receipt was taken by a
        // transaction payscan did not send.
        let mined_nonces = self.provider.get_transaction_count(self.address()).latest().await?;
        for out in pending {
            match self.step(out, mined_nonces).await? {
                Step::Mined => report.mined += 1,
                Step::Dropped => report.dropped += 1,
                Step::Replaced => {
                    report.replaced += 1;
                    report.pending += 1;
                }
                Step::Rebroadcast => {
                    report.rebroadcast += 1;
                    report.pending += 1;
                }
            }
        }
        Ok(report)
    }

    /// Tracks one transaction until it is no longer pending or `timeout` passes; returns it as
    /// it then stands (`None`: nothing was ever recorded under that purpose and reference).
    pub async fn wait(
        &self,
        purpose: &str,
        reference: &str,
        timeout: Duration,
    ) -> Result<Option<OutboundTx>, OutboundError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Some(out) = self.store.outbound_by_reference(purpose, reference).await? else { return Ok(None) };
            if out.status != OutboundStatus::Pending || tokio::time::Instant::now() >= deadline {
                return Ok(Some(out));
            }
            let mined_nonces = self.provider.get_transaction_count(self.address()).latest().await?;
            if matches!(self.step(out, mined_nonces).await?, Step::Rebroadcast | Step::Replaced) {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// Receipts, a drop, a replacement or a broadcast again, for one pending transaction.
    async fn step(&self, mut out: OutboundTx, mined_nonces: u64) -> Result<Step, OutboundError> {
        let mut mined = None;
        for hash in out.hashes.iter().rev() {
            if let Some(receipt) = self.provider.get_transaction_receipt(*hash).await? {
                let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
                mined = Some((*hash, receipt.status(), receipt.block_number.unwrap_or_default(), fee));
                break;
            }
        }
        let now = clock::now_ms();
        if let Some((hash, success, block, fee)) = mined {
            let status = if success { OutboundStatus::Mined } else { OutboundStatus::Failed };
            self.store.finish_outbound(&out, status, hash, block, fee, now).await?;
            return Ok(Step::Mined);
        }
        if out.nonce < mined_nonces && !self.known(&out).await? {
            match out.suspected_at {
                Some(since) if now - since >= millis(self.settings.drop_grace) => {
                    warn!(chain_id = %self.chain_id, nonce = out.nonce, "a transaction payscan did not send took this nonce");
                    self.store.drop_outbound(out.id, now).await?;
                    return Ok(Step::Dropped);
                }
                Some(_) => return Ok(Step::Rebroadcast),
                None => {
                    self.store.suspect_outbound(out.id, now).await?;
                    return Ok(Step::Rebroadcast);
                }
            }
        }
        let mut step = Step::Rebroadcast;
        if now >= out.replace_at {
            let bump = |fee: u128| fee.saturating_mul(10_000 + u128::from(self.settings.bump_bps)) / 10_000 + 1;
            let max_fee = bump(out.max_fee).min(self.settings.max_fee_cap);
            if max_fee > out.max_fee {
                let priority_fee = bump(out.priority_fee).min(max_fee);
                let request =
                    TxRequest { to: out.to, value: out.value, data: out.data.clone(), gas_limit: out.gas_limit };
                let (raw, hash) = self.sign(out.nonce, &request, max_fee, priority_fee)?;
                out.max_fee = max_fee;
                out.priority_fee = priority_fee;
                out.raw = raw;
                out.tx_hash = hash;
                out.hashes.push(hash);
                out.attempts += 1;
                out.replace_at = now + millis(self.settings.replace_after);
                self.store.replace_outbound(&out, now).await?;
                info!(chain_id = %self.chain_id, nonce = out.nonce, attempt = out.attempts, max_fee, "replacing an unmined transaction");
                step = Step::Replaced;
            }
        }
        self.broadcast(&out).await?;
        Ok(step)
    }
}

impl Sender {
    /// Whether the node knows any of the transaction's hashes (mined or waiting).
    async fn known(&self, out: &OutboundTx) -> Result<bool, OutboundError> {
        for hash in &out.hashes {
            if self.provider.get_transaction_by_hash(*hash).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// What one tracking step did to one transaction.
enum Step {
    Mined,
    Dropped,
    Replaced,
    Rebroadcast,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}
