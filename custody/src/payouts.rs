//! Payouts: money out of the payout wallet, each leaving once. A payout is queued, taken by a
//! batch run, sent through [`Sender`] under a reference per attempt (so a crash never sends an
//! attempt twice, and a new attempt only starts once the last one's transaction failed for sure),
//! and settled from its receipt. Failed attempts retry on the schedule, then wait for a person in
//! `MANUAL_REVIEW`. Releases and refunds of a payment's escrow are payouts too (see
//! [`crate::escrow`]), with the payment moving to `released` or `refunded` in the transaction
//! that completes them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::sol_types::SolCall;
use payscan_chain::abi::IERC20;
use payscan_core::config::SignerKind;
use payscan_core::event::{payout_event, EventSettlement, PayoutEvent};
use payscan_core::registry::SharedRegistry;
use payscan_core::store::ledger::{EntryKind, NewEntry};
use payscan_core::store::outbound::OutboundStatus;
use payscan_core::store::payments::TokenRef;
use payscan_core::store::payouts::{Payout, PayoutConflict};
use payscan_core::store::{Store, StoreError};
use payscan_core::{clock, BaseUnits, ChainId, PaymentId, PayoutId, PayoutKind, PayoutStatus};
use serde::Serialize;
use tracing::{info, warn};

use crate::keys::Keys;
use crate::outbound::{Guard, OutboundError, OutboundSettings, Sender, TxRequest};

mod settle;

/// Gas a token `transfer` may use.
pub(crate) const TRANSFER_GAS: u64 = 120_000;
/// The outbound purpose of payout transactions.
const PURPOSE: &str = "payout";

/// Why a payout request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("{0}")]
    Invalid(String),
    #[error("amount {amount} {symbol} is below the payout minimum of {minimum} {symbol}")]
    BelowMinimum { amount: String, minimum: String, symbol: String },
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    NotFound(String),
    /// The payout or payment is not in a state that allows the action.
    #[error("{0}")]
    State(String),
    /// No payout wallet, or it cannot pay gas: nothing could be sent.
    #[error("{0}")]
    WalletUnavailable(String),
    #[error("chain {0}'s RPC did not answer")]
    ChainUnavailable(ChainId),
    /// A transaction hash given to confirm does not show the transfer.
    #[error("{0}")]
    TxCheck(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Retry schedule and minimums.
#[derive(Debug, Clone)]
pub struct PayoutSettings {
    /// The delays before each retry; their number is the number of retries.
    pub retry: Vec<Duration>,
    /// (upper-case token symbol, minimum in token units).
    pub minimums: Vec<(String, String)>,
    /// How long a run waits for the receipts of what it sent before answering.
    pub wait: Duration,
}

/// A payout to queue.
#[derive(Debug, Clone)]
pub struct NewPayout {
    pub user_id: String,
    pub reference: String,
    pub contract_id: Option<String>,
    pub reason: Option<String>,
    pub chain_id: ChainId,
    pub token: TokenRef,
    pub recipient: Address,
    pub amount: BaseUnits,
}

impl NewPayout {
    /// The payout as first written, before any attempt. One that settles `payment`'s escrow
    /// holds it.
    pub(crate) fn into_payout(
        self,
        id: PayoutId,
        kind: PayoutKind,
        payment: Option<PaymentId>,
        status: PayoutStatus,
        now: i64,
    ) -> Payout {
        Payout {
            id,
            kind,
            user_id: self.user_id,
            reference: self.reference,
            contract_id: self.contract_id,
            reason: self.reason,
            holds_escrow: payment.is_some(),
            payment_id: payment,
            chain_id: self.chain_id,
            token: self.token,
            recipient: self.recipient,
            amount: self.amount,
            status,
            attempts: 0,
            failures: 0,
            next_attempt_at: None,
            tx_hash: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
        }
    }
}

/// What a batch run did, in the seed's shape.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Jobs this run completed.
    pub processed: usize,
    /// Jobs whose attempt failed in this run (retry scheduled or manual review).
    pub failed: usize,
    /// Jobs still waiting: queued, or sent and not yet mined.
    pub queued: usize,
    pub job_ids: Vec<PayoutId>,
}

/// The payout queue and its worker.
pub struct Payouts {
    pub(crate) store: Store,
    pub(crate) keys: Arc<Keys>,
    pub(crate) registry: SharedRegistry,
    outbound: OutboundSettings,
    settings: PayoutSettings,
    /// Runs, retries and the worker's steps go one at a time in a process.
    pub(crate) running: tokio::sync::Mutex<()>,
}

impl Payouts {
    pub fn new(
        store: Store,
        keys: Arc<Keys>,
        registry: SharedRegistry,
        outbound: OutboundSettings,
        settings: PayoutSettings,
    ) -> Self {
        Self { store, keys, registry, outbound, settings, running: tokio::sync::Mutex::new(()) }
    }

    /// The minimum payout of `token` in base units, if one is configured.
    fn minimum(&self, token: &TokenRef) -> Result<Option<(BaseUnits, String)>, PayoutError> {
        let Some((_, text)) = self.settings.minimums.iter().find(|(s, _)| s.eq_ignore_ascii_case(&token.symbol)) else {
            return Ok(None);
        };
        let min = BaseUnits::parse_token_units(text, token.decimals)
            .map_err(|e| PayoutError::Invalid(format!("PAYSCAN_PAYOUT_MIN for {}: {e}", token.symbol)))?;
        Ok(Some((min, text.clone())))
    }

    pub(crate) fn payout_key(&self) -> Result<&alloy::signers::local::PrivateKeySigner, PayoutError> {
        if self.keys.kind() != SignerKind::Local {
            return Err(PayoutError::WalletUnavailable(
                "payouts are signed by payscan: set PAYSCAN_SIGNER=local and a payout key".into(),
            ));
        }
        self.keys.payout().ok_or_else(|| {
            PayoutError::WalletUnavailable("no payout wallet: set PAYSCAN_PAYOUT_KEY or PAYSCAN_RELAYER_KEY".into())
        })
    }

    /// The chain's RPC and its endpoints, the preferred first.
    pub(crate) fn provider(&self, chain_id: ChainId) -> Result<(RootProvider, Vec<String>), PayoutError> {
        let registry = self.registry.current();
        let chain = registry
            .chain(chain_id)
            .ok_or_else(|| PayoutError::Invalid(format!("chain {chain_id} is not in the registry")))?;
        let provider = payscan_chain::provider_for(chain, self.outbound.rpc_timeout)
            .map_err(|_| PayoutError::ChainUnavailable(chain_id))?;
        Ok((provider, chain.rpc_endpoints().into_iter().map(str::to_owned).collect()))
    }

    /// Queues a payout after checking its minimum and that the payout wallet can pay gas.
    pub async fn enqueue(&self, new: NewPayout) -> Result<Payout, PayoutError> {
        if let Some((min, text)) = self.minimum(&new.token)? {
            if new.amount < min {
                return Err(PayoutError::BelowMinimum {
                    amount: new.amount.to_token_units(new.token.decimals),
                    minimum: text,
                    symbol: new.token.symbol.clone(),
                });
            }
        }
        let wallet = self.payout_key()?.address();
        self.check_gas(new.chain_id, wallet).await?;
        let payout = new.into_payout(PayoutId::new(), PayoutKind::Payout, None, PayoutStatus::Queued, clock::now_ms());
        self.insert(payout, PayoutEvent::Queued).await
    }

    pub(crate) async fn insert(&self, payout: Payout, event: PayoutEvent) -> Result<Payout, PayoutError> {
        let now = payout.created_at;
        let mut tx = self.store.begin().await?;
        match self.store.insert_payout(&mut tx, &payout).await {
            Ok(Ok(())) => {}
            Ok(Err(conflict)) => return Err(duplicate(conflict)),
            // A concurrent request with the same key won the race.
            Err(e) if e.is_unique_violation() => {
                return Err(PayoutError::Duplicate(format!("reference `{}` was used before", payout.reference)))
            }
            Err(e) => return Err(e.into()),
        }
        self.store.enqueue_event(&mut tx, &payout_event(event, &payout, now), now).await?;
        self.store.commit_with_events(tx).await?;
        info!(payout_id = %payout.id, kind = payout.kind.as_str(), amount = %payout.amount, "payout queued");
        Ok(payout)
    }

    /// Refuses when the payout wallet holds less gas than one transfer at today's fee.
    pub(crate) async fn check_gas(&self, chain_id: ChainId, wallet: Address) -> Result<(), PayoutError> {
        let (provider, _) = self.provider(chain_id)?;
        let unavailable = |_| PayoutError::ChainUnavailable(chain_id);
        let fees = provider.estimate_eip1559_fees().await.map_err(unavailable)?;
        let needed = U256::from(TRANSFER_GAS) * U256::from(fees.max_fee_per_gas);
        let held = provider.get_balance(wallet).await.map_err(unavailable)?;
        if held < needed {
            return Err(PayoutError::WalletUnavailable(format!(
                "the payout wallet {wallet} holds {held} wei for gas; a payout needs about {needed}"
            )));
        }
        Ok(())
    }

    pub async fn get(&self, id: &PayoutId) -> Result<Payout, PayoutError> {
        self.store.payout(id).await?.ok_or_else(|| PayoutError::NotFound(format!("payout {id} not found")))
    }

    /// Processes the queue: settles what is in flight, starts every queued job and every due
    /// retry, then waits a little for their receipts.
    pub async fn run(&self) -> Result<RunReport, PayoutError> {
        let _one_at_a_time = self.running.lock().await;
        self.settle_in_flight().await?;
        let due = self.store.due_payouts(clock::now_ms(), true).await?;
        let mut taken = Vec::new();
        for payout in due {
            let id = payout.id.clone();
            match self.start_attempt(payout).await {
                Ok(Some(_)) => taken.push(id),
                Ok(None) => {}
                // One payout's failure is that payout's, never the queue's.
                Err(e) => warn!(payout_id = %id, error = %e, "starting a payout failed; the next run retries"),
            }
        }
        let finished = self.wait_for(&taken).await?;
        let mut report = RunReport::default();
        for payout in &finished {
            match payout.status {
                PayoutStatus::Completed => report.processed += 1,
                PayoutStatus::Failed | PayoutStatus::ManualReview => report.failed += 1,
                _ => report.queued += 1,
            }
        }
        report.queued += usize::try_from(self.store.queued_payouts().await?).unwrap_or(0);
        report.job_ids = taken;
        Ok(report)
    }

    /// One step of the worker: settle what is in flight and start the retries that are due
    /// (queued jobs wait for a run).
    pub async fn step(&self) -> Result<(), PayoutError> {
        let _one_at_a_time = self.running.lock().await;
        self.settle_in_flight().await?;
        for payout in self.store.due_payouts(clock::now_ms(), false).await? {
            let id = payout.id.clone();
            if let Err(e) = self.start_attempt(payout).await {
                warn!(payout_id = %id, error = %e, "retrying a payout failed; the next step tries again");
            }
        }
        Ok(())
    }

    /// Waits (up to the run's wait) until none of `ids` is in flight; returns them as they are.
    pub(crate) async fn wait_for(&self, ids: &[PayoutId]) -> Result<Vec<Payout>, PayoutError> {
        let deadline = Instant::now() + self.settings.wait;
        loop {
            let mut current = Vec::with_capacity(ids.len());
            for id in ids {
                current.push(self.get(id).await?);
            }
            if current.iter().all(|p| !p.status.is_in_flight()) || Instant::now() >= deadline {
                return Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            self.settle_in_flight().await?;
        }
    }

    /// Moves a queued or failed payout into a new attempt and sends it. `None` when another run
    /// took it first.
    pub(crate) async fn start_attempt(&self, mut payout: Payout) -> Result<Option<Payout>, PayoutError> {
        let expected = payout.status;
        let next =
            if payout.failures == 0 { PayoutStatus::Processing } else { PayoutStatus::Retrying(payout.failures) };
        if !expected.can_become(next) {
            return Ok(None);
        }
        let now = clock::now_ms();
        payout.status = next;
        payout.attempts += 1;
        payout.next_attempt_at = None;
        payout.tx_hash = None;
        payout.updated_at = now;
        if !self.save(&payout, expected, Some(PayoutEvent::Processing), now).await? {
            return Ok(None);
        }
        self.send_attempt(payout).await.map(Some)
    }

    /// Sends the current attempt's transaction unless it was sent already. The payout wallet must
    /// hold the tokens (beyond what other in-flight payouts will take) and the gas; otherwise the
    /// attempt fails without a transaction.
    async fn send_attempt(&self, payout: Payout) -> Result<Payout, PayoutError> {
        let reference = payout.attempt_reference();
        if self.store.outbound_by_reference(PURPOSE, &reference).await?.is_some() {
            return Ok(payout);
        }
        let key = match self.payout_key() {
            Ok(key) => key.clone(),
            Err(e) => return self.fail_attempt(payout, &e.to_string()).await,
        };
        let wallet = key.address();
        let (provider, urls) = match self.provider(payout.chain_id) {
            Ok(p) => p,
            Err(e) => return self.fail_attempt(payout, &e.to_string()).await,
        };
        let sender = match Sender::new(self.store.clone(), &endpoints(&urls), payout.chain_id, key, self.outbound) {
            Ok(sender) => sender,
            Err(e) => return self.fail_attempt(payout, &e.to_string()).await,
        };
        // Receipts first: a payout already mined must not count as promised on top of the
        // balance it already lowered.
        let checked = async {
            sender.track().await?;
            self.affordable(&payout, &provider, wallet).await
        };
        match checked.await {
            Ok(None) => {}
            Ok(Some(short)) => return self.fail_attempt(payout, &short).await,
            Err(e) => return self.fail_attempt(payout, &format!("could not read the payout wallet: {e}")).await,
        }
        let call = IERC20::transferCall { to: payout.recipient, amount: payout.amount.0 };
        let request = TxRequest {
            to: payout.token.address,
            value: U256::ZERO,
            data: Bytes::from(call.abi_encode()),
            gas_limit: TRANSFER_GAS,
        };
        // A release or refund is signed only while its payment still holds the money.
        let guard = match (&payout.payment_id, payout.kind) {
            (Some(id), PayoutKind::Release | PayoutKind::Refund) => Guard::EscrowFunded(id),
            _ => Guard::None,
        };
        match sender.send_guarded(PURPOSE, &reference, &request, guard).await {
            Ok(out) => {
                info!(payout_id = %payout.id, attempt = payout.attempts, tx = %out.tx_hash, nonce = out.nonce, "payout sent");
                Ok(payout)
            }
            // The payment no longer holds the money: nothing was signed, and a person decides.
            Err(OutboundError::Refused(reason)) => self.review(payout, &reason, None).await,
            // Recorded means it may be out there: tracking settles it, never a second send.
            Err(e) if self.store.outbound_by_reference(PURPOSE, &reference).await?.is_some() => {
                warn!(payout_id = %payout.id, error = %e, "payout send reported an error after recording");
                Ok(payout)
            }
            Err(e) => self.fail_attempt(payout, &e.to_string()).await,
        }
    }

    /// Why the payout wallet cannot pay this payout now, if it cannot.
    async fn affordable(
        &self,
        payout: &Payout,
        provider: &RootProvider,
        wallet: Address,
    ) -> Result<Option<String>, OutboundError> {
        // Mined only: what is in flight is counted once, as promised below.
        let held = payscan_chain::read::token_balance(provider, payout.token.address, wallet).await?;
        let mut promised = U256::ZERO;
        for other in self.store.in_flight_payouts().await? {
            if other.id == payout.id || other.chain_id != payout.chain_id || other.token.address != payout.token.address
            {
                continue;
            }
            let sent = self.store.outbound_by_reference(PURPOSE, &other.attempt_reference()).await?;
            if sent.is_some_and(|o| o.status == OutboundStatus::Pending) {
                promised = promised.saturating_add(other.amount.0);
            }
        }
        let available = held.saturating_sub(promised);
        if available < payout.amount.0 {
            return Ok(Some(format!(
                "the payout wallet holds {} {} ({} promised to payouts in flight); this payout needs {}",
                BaseUnits(held).to_token_units(payout.token.decimals),
                payout.token.symbol,
                BaseUnits(promised).to_token_units(payout.token.decimals),
                payout.amount.to_token_units(payout.token.decimals),
            )));
        }
        let fees = provider.estimate_eip1559_fees().await?;
        let gas = U256::from(TRANSFER_GAS) * U256::from(fees.max_fee_per_gas.min(self.outbound.max_fee_cap));
        let native = provider.get_balance(wallet).await?;
        if native < gas {
            return Ok(Some(format!("the payout wallet holds {native} wei for gas; this payout needs about {gas}")));
        }
        Ok(None)
    }

    /// An attempt failed: schedule the next retry, or hand the payout to a person.
    async fn fail_attempt(&self, mut payout: Payout, error: &str) -> Result<Payout, PayoutError> {
        let expected = payout.status;
        let now = clock::now_ms();
        payout.failures += 1;
        payout.last_error = Some(payscan_core::redact::scrub_urls(error).chars().take(500).collect());
        payout.updated_at = now;
        let event = match self.settings.retry.get(payout.failures as usize - 1) {
            Some(delay) => {
                payout.status = PayoutStatus::Failed;
                payout.next_attempt_at = Some(now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4));
                PayoutEvent::Failed
            }
            None => {
                payout.status = PayoutStatus::ManualReview;
                payout.next_attempt_at = None;
                PayoutEvent::ManualReview
            }
        };
        if !expected.can_become(payout.status) {
            return Err(PayoutError::State(format!("a {expected} payout cannot fail")));
        }
        warn!(payout_id = %payout.id, attempt = payout.attempts, status = %payout.status, error, "payout attempt failed");
        self.save(&payout, expected, Some(event), now).await?;
        Ok(payout)
    }

    /// An attempt that must not be retried on the schedule: the payout waits for a person in
    /// `MANUAL_REVIEW` with the reason (and the hash of a transaction that did go out).
    async fn review(&self, mut payout: Payout, error: &str, tx_hash: Option<B256>) -> Result<Payout, PayoutError> {
        let expected = payout.status;
        let now = clock::now_ms();
        payout.failures += 1;
        payout.last_error = Some(error.chars().take(500).collect());
        payout.updated_at = now;
        payout.status = PayoutStatus::ManualReview;
        payout.next_attempt_at = None;
        if tx_hash.is_some() {
            payout.tx_hash = tx_hash;
        }
        if !expected.can_become(payout.status) {
            return Err(PayoutError::State(format!("a {expected} payout cannot go to manual review")));
        }
        warn!(payout_id = %payout.id, attempt = payout.attempts, error, "payout needs a person");
        self.save(&payout, expected, Some(PayoutEvent::ManualReview), now).await?;
        Ok(payout)
    }

    /// Refuses to re-send or give up a payout whose current transaction was mined: the money
    /// left once, and a second attempt would pay twice.
    async fn refuse_if_mined(&self, payout: &Payout) -> Result<(), PayoutError> {
        let sent = self.store.outbound_by_reference(PURPOSE, &payout.attempt_reference()).await?;
        if let Some(out) = sent.filter(|o| o.status == OutboundStatus::Mined) {
            return Err(PayoutError::State(format!(
                "payout {}'s transaction {:#x} was mined: confirm it instead",
                payout.id, out.tx_hash
            )));
        }
        Ok(())
    }

    /// Writes `payout` if it is still `expected`, with its event, in one transaction.
    async fn save(
        &self,
        payout: &Payout,
        expected: PayoutStatus,
        event: Option<PayoutEvent>,
        now: i64,
    ) -> Result<bool, PayoutError> {
        let mut tx = self.store.begin().await?;
        if !self.store.save_payout(&mut tx, payout, expected).await? {
            return Ok(false);
        }
        if let Some(event) = event {
            self.store.enqueue_event(&mut tx, &payout_event(event, payout, now), now).await?;
        }
        self.store.commit_with_events(tx).await?;
        Ok(true)
    }

    /// An admin's retry of a failed payout or one in manual review: back in the queue with a
    /// fresh retry schedule, and attempted now.
    pub async fn retry(&self, id: &PayoutId) -> Result<Payout, PayoutError> {
        let _one_at_a_time = self.running.lock().await;
        let mut payout = self.get(id).await?;
        let expected = payout.status;
        if !matches!(expected, PayoutStatus::Failed | PayoutStatus::ManualReview) {
            return Err(PayoutError::State(format!(
                "a {expected} payout cannot be retried (only FAILED or MANUAL_REVIEW)"
            )));
        }
        self.refuse_if_mined(&payout).await?;
        let now = clock::now_ms();
        payout.status = PayoutStatus::Queued;
        payout.failures = 0;
        payout.next_attempt_at = None;
        payout.updated_at = now;
        if !self.save(&payout, expected, Some(PayoutEvent::Requeued), now).await? {
            return Err(PayoutError::State("the payout changed meanwhile; read it again".into()));
        }
        if self.start_attempt(payout).await?.is_none() {
            return self.get(id).await;
        }
        let mut settled = self.wait_for(std::slice::from_ref(id)).await?;
        settled.pop().ok_or_else(|| PayoutError::NotFound(format!("payout {id} not found")))
    }

    /// Cancels a payout with no transaction in flight. A cancelled release or refund gives its
    /// payment's escrow claim back.
    pub async fn cancel(&self, id: &PayoutId) -> Result<Payout, PayoutError> {
        let _one_at_a_time = self.running.lock().await;
        let mut payout = self.get(id).await?;
        let expected = payout.status;
        if !expected.can_become(PayoutStatus::Cancelled) {
            return Err(PayoutError::State(format!(
                "a {expected} payout cannot be cancelled (a transaction may be in flight, or it is final)"
            )));
        }
        self.refuse_if_mined(&payout).await?;
        let now = clock::now_ms();
        payout.status = PayoutStatus::Cancelled;
        payout.holds_escrow = false;
        payout.next_attempt_at = None;
        payout.updated_at = now;
        if !self.save(&payout, expected, Some(PayoutEvent::Cancelled), now).await? {
            return Err(PayoutError::State("the payout changed meanwhile; read it again".into()));
        }
        Ok(payout)
    }

    /// The worker: steps until cancelled. A failing step is logged; the next one tries again.
    pub async fn run_worker(
        self: Arc<Self>,
        interval: Duration,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<(), std::convert::Infallible> {
        loop {
            if let Err(e) = self.step().await {
                warn!(error = %e, "payout worker step failed; retrying");
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

fn duplicate(conflict: PayoutConflict) -> PayoutError {
    PayoutError::Duplicate(match conflict {
        PayoutConflict::Reference(id) => format!("this reference was used before, by payout {id}"),
        PayoutConflict::ContractReason(id) => format!("payout {id} already pays this contractId and reason"),
        PayoutConflict::Escrow(id) => format!("the payment is already being released or refunded by {id}"),
    })
}

fn endpoints(urls: &[String]) -> Vec<&str> {
    urls.iter().map(String::as_str).collect()
}
