//! Sweeps: a completed payment's destination balance moves to the master wallet. A token with
//! EIP-2612 goes by a permit the destination's own key signs and the relayer submits, then
//! `transferFrom`: the destination never holds gas. Any other token gets a gas top-up from the
//! relayer, then the destination's own `transfer`. With the build-only signer nothing is sent: the
//! typed data and unsigned transactions come back for an external signer.
//!
//! Every transaction goes through [`Sender`] with references made of the payment and the sweep's
//! number, so running a sweep again after a crash finds the transactions already recorded instead
//! of sending new ones.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::sol_types::SolCall;
use payscan_chain::abi::{IERC20Permit, IERC20};
use payscan_core::config::SignerKind;
use payscan_core::registry::{redact_url, Chain, SharedRegistry, Token};
use payscan_core::store::outbound::{OutboundStatus, OutboundTx};
use payscan_core::store::{Payment, Store, StoreError};
use payscan_core::{clock, failpoint, BaseUnits, PaymentId, PaymentStatus};
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::keys::Keys;
use crate::outbound::{OutboundError, OutboundSettings, Sender, TxRequest};
use crate::permit::{self, PermitTerms};

/// How a sweep ended, as the seed names it (`built`: payloads for an external signer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SweepStatus {
    Success,
    Error,
    Skipped,
    Built,
}

/// One destination's sweep, in the seed's `SweepResult` shape.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SweepResult {
    pub destination_id: PaymentId,
    pub address: String,
    pub status: SweepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<BaseUnits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

impl SweepResult {
    fn new(payment: &Payment, status: SweepStatus) -> Self {
        Self {
            destination_id: payment.id.clone(),
            address: payment.destination.to_checksum(None),
            status,
            tx_hash: None,
            amount: None,
            error: None,
            payload: None,
        }
    }

    fn because(mut self, why: impl Into<String>) -> Self {
        self.error = Some(why.into());
        self
    }
}

/// Gas a permit, a `transferFrom` or a `transfer` of a plain ERC-20 may use.
const TOKEN_CALL_GAS: u64 = 120_000;
/// How long a sweep waits for each of its transactions before reporting it still under way.
const WAIT: Duration = Duration::from_secs(60);

/// Moves destination balances to the master wallet.
pub struct Sweeper {
    store: Store,
    keys: Arc<Keys>,
    registry: SharedRegistry,
    settings: OutboundSettings,
    /// Wei: a sweep whose gas would cost more is skipped.
    max_gas_cost: Option<U256>,
    running: tokio::sync::Mutex<()>,
}

impl Sweeper {
    pub fn new(
        store: Store,
        keys: Arc<Keys>,
        registry: SharedRegistry,
        settings: OutboundSettings,
        max_gas_cost: Option<U256>,
    ) -> Self {
        Self { store, keys, registry, settings, max_gas_cost, running: tokio::sync::Mutex::new(()) }
    }

    /// Sweeps one payment's destination if its balance is at least `min_amount`. Sweeps run one
    /// at a time in a process: they are rare, and each waits on its own transactions.
    pub async fn sweep(&self, payment: &Payment, min_amount: BaseUnits) -> SweepResult {
        let _one_at_a_time = self.running.lock().await;
        match self.try_sweep(payment, min_amount).await {
            Ok(result) => result,
            Err(e) => {
                warn!(payment_id = %payment.id, error = %e, "sweep failed");
                SweepResult::new(payment, SweepStatus::Error).because(e.to_string())
            }
        }
    }

    async fn try_sweep(&self, payment: &Payment, min_amount: BaseUnits) -> Result<SweepResult, OutboundError> {
        // Money under its threshold may still be taken by a reorg; released and refunded
        // payments were paid from the payout wallet and their deposits still belong here.
        if !PaymentStatus::SETTLED.contains(&payment.status) {
            return Ok(SweepResult::new(payment, SweepStatus::Skipped)
                .because(format!("payment is {}: only completed payments are swept", payment.status)));
        }
        let registry = self.registry.current();
        let Some(chain) = registry.chain(payment.rail.chain_id) else {
            return Ok(SweepResult::new(payment, SweepStatus::Error).because("chain is no longer in the registry"));
        };
        let Some(token) = chain.token_by_address(payment.rail.token.address) else {
            return Ok(SweepResult::new(payment, SweepStatus::Error).because("token is no longer in the registry"));
        };
        let Some(master) = self.keys.master_wallet() else {
            return Ok(SweepResult::new(payment, SweepStatus::Error).because("PAYSCAN_MASTER_WALLET is not set"));
        };
        let provider = payscan_chain::provider_for(chain, self.settings.rpc_timeout)
            .map_err(|_| OutboundError::BadUrl(redact_url(&chain.rpc_url)))?;
        let number = self.store.sweep_count(&payment.id).await?;
        let reference = format!("{}:{number}", payment.id);
        if self.keys.kind() == SignerKind::Local {
            if let Some(result) = self.resume(payment, chain, master, &reference, number).await? {
                return Ok(result);
            }
        }
        let balance = payscan_chain::read::token_balance(&provider, token.address, payment.destination).await?;
        self.store.save_destination_balance(&payment.id, BaseUnits(balance), clock::now_ms()).await?;
        if balance.is_zero() || BaseUnits(balance) < min_amount {
            return Ok(SweepResult::new(payment, SweepStatus::Skipped)
                .because(format!("balance {balance} is below the sweep minimum")));
        }
        if let Some(max) = self.max_gas_cost {
            let gas = if token.permit.is_some() { 2 * TOKEN_CALL_GAS } else { 21_000 + TOKEN_CALL_GAS };
            let fees = provider.estimate_eip1559_fees().await?;
            let cost = U256::from(gas) * U256::from(fees.max_fee_per_gas);
            if cost > max {
                return Ok(SweepResult::new(payment, SweepStatus::Skipped)
                    .because(format!("gas would cost {cost} wei, above PAYSCAN_SWEEP_MAX_GAS_COST ({max} wei)")));
            }
        }
        match self.keys.kind() {
            SignerKind::BuildOnly => Ok(self.build(payment, chain, token, &provider, master, balance).await?),
            SignerKind::Local => self.send(payment, chain, token, &provider, master, balance, &reference, number).await,
        }
    }

    /// Finishes a sweep a crash interrupted: if this sweep's transfer was already recorded, it is
    /// tracked to its receipt and recorded as the sweep, never sent again.
    async fn resume(
        &self,
        payment: &Payment,
        chain: &Chain,
        master: Address,
        reference: &str,
        number: u64,
    ) -> Result<Option<SweepResult>, OutboundError> {
        let Some(sent) = self.store.outbound_by_reference("sweep_transfer", reference).await? else {
            return Ok(None);
        };
        let relayer = self.keys.relayer().filter(|r| r.address() == sent.sender).cloned();
        let key = match relayer {
            Some(key) => key,
            None => self
                .keys
                .destination_signer(payment.derivation_index)
                .map_err(|e| OutboundError::Sign(e.to_string()))?,
        };
        let sender = Sender::new(self.store.clone(), &chain.rpc_endpoints(), chain.chain_id, key, self.settings)?;
        let amount = IERC20::transferFromCall::abi_decode(&sent.data)
            .map(|c| c.amount)
            .or_else(|_| IERC20::transferCall::abi_decode(&sent.data).map(|c| c.amount))
            .map_err(|e| OutboundError::Sign(format!("recorded sweep transfer is not a transfer: {e}")))?;
        info!(payment_id = %payment.id, tx = %sent.tx_hash, "resuming an interrupted sweep");
        let mut result = match self.wait(&sender, &sent).await? {
            Some(moved) => {
                self.store.record_sweep(payment, number, master, BaseUnits(amount), moved, clock::now_ms()).await?;
                let mut result = SweepResult::new(payment, SweepStatus::Success);
                result.tx_hash = Some(format!("{moved:#x}"));
                result
            }
            None => SweepResult::new(payment, SweepStatus::Error).because("the sweep's transfer did not go through"),
        };
        result.amount = Some(BaseUnits(amount));
        Ok(Some(result))
    }

    /// Moves the balance with local keys: a permit the destination signs and the relayer submits,
    /// or a relayer top-up and the destination's own transfer.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        payment: &Payment,
        chain: &Chain,
        token: &Token,
        provider: &RootProvider,
        master: Address,
        balance: U256,
        reference: &str,
        number: u64,
    ) -> Result<SweepResult, OutboundError> {
        let Some(relayer) = self.keys.relayer().cloned() else {
            return Ok(SweepResult::new(payment, SweepStatus::Error).because("PAYSCAN_RELAYER_KEY is not set"));
        };
        let destination_key =
            self.keys.destination_signer(payment.derivation_index).map_err(|e| OutboundError::Sign(e.to_string()))?;
        let relayer = Sender::new(self.store.clone(), &chain.rpc_endpoints(), chain.chain_id, relayer, self.settings)?;
        let moved = if let Some(domain) = &token.permit {
            let nonce = call_u256(
                provider,
                token.address,
                IERC20Permit::noncesCall { owner: payment.destination }.abi_encode(),
            )
            .await?;
            let deadline = U256::from(clock::now_ms() / 1000 + 3600);
            let terms =
                PermitTerms { owner: payment.destination, spender: relayer.address(), value: balance, nonce, deadline };
            let hash = permit::signing_hash(chain, token, domain, &terms);
            let signature = destination_key.sign_hash_sync(&hash).map_err(|e| OutboundError::Sign(e.to_string()))?;
            let permit_call = IERC20Permit::permitCall {
                owner: payment.destination,
                spender: relayer.address(),
                value: balance,
                deadline,
                v: 27 + u8::from(signature.v()),
                r: B256::from(signature.r()),
                s: B256::from(signature.s()),
            };
            let permitted =
                relayer.send("sweep_permit", reference, &token_call(token, permit_call.abi_encode())).await?;
            self.wait(&relayer, &permitted).await?;
            let pull = IERC20::transferFromCall { from: payment.destination, to: master, amount: balance };
            let pulled = relayer.send("sweep_transfer", reference, &token_call(token, pull.abi_encode())).await?;
            self.wait(&relayer, &pulled).await?
        } else {
            let value = self.top_up_needed(provider, payment.destination).await?;
            if !value.is_zero() {
                let top_up = TxRequest { to: payment.destination, value, data: Bytes::new(), gas_limit: 21_000 };
                let topped = relayer.send("sweep_topup", reference, &top_up).await?;
                self.wait(&relayer, &topped).await?;
            }
            let own = Sender::new(
                self.store.clone(),
                &chain.rpc_endpoints(),
                chain.chain_id,
                destination_key,
                self.settings,
            )?;
            let transfer = IERC20::transferCall { to: master, amount: balance };
            let sent = own.send("sweep_transfer", reference, &token_call(token, transfer.abi_encode())).await?;
            self.wait(&own, &sent).await?
        };
        let Some(moved) = moved else {
            let mut result = SweepResult::new(payment, SweepStatus::Error).because("a sweep transaction reverted");
            result.amount = Some(BaseUnits(balance));
            return Ok(result);
        };
        failpoint::reached("sweep.mined");
        self.store.record_sweep(payment, number, master, BaseUnits(balance), moved, clock::now_ms()).await?;
        info!(payment_id = %payment.id, amount = %balance, tx = %moved, "destination swept");
        let mut result = SweepResult::new(payment, SweepStatus::Success);
        result.tx_hash = Some(format!("{moved:#x}"));
        result.amount = Some(BaseUnits(balance));
        Ok(result)
    }

    /// Wei the destination lacks to pay for its own token transfer at twice today's fee.
    async fn top_up_needed(&self, provider: &RootProvider, destination: Address) -> Result<U256, OutboundError> {
        let fees = provider.estimate_eip1559_fees().await?;
        let needed = U256::from(TOKEN_CALL_GAS) * U256::from(fees.max_fee_per_gas.saturating_mul(2));
        let held = provider.get_balance(destination).await?;
        Ok(needed.saturating_sub(held))
    }

    /// Waits until `sent` has a receipt: its hash when it succeeded, `None` when it reverted or
    /// lost its nonce.
    async fn wait(&self, sender: &Sender, sent: &OutboundTx) -> Result<Option<B256>, OutboundError> {
        let row = sender.wait(&sent.purpose, &sent.reference, WAIT).await?;
        match row.as_ref().map(|r| r.status) {
            Some(OutboundStatus::Mined) => Ok(row.map(|r| r.tx_hash)),
            Some(OutboundStatus::Failed | OutboundStatus::Dropped) => Ok(None),
            _ => Err(OutboundError::NotMinedYet(sent.tx_hash)),
        }
    }

    /// What an external signer needs: the permit's typed data, or the two unsigned transactions.
    async fn build(
        &self,
        payment: &Payment,
        chain: &Chain,
        token: &Token,
        provider: &RootProvider,
        master: Address,
        balance: U256,
    ) -> Result<SweepResult, OutboundError> {
        let payload = if let Some(domain) = &token.permit {
            let nonce = call_u256(
                provider,
                token.address,
                IERC20Permit::noncesCall { owner: payment.destination }.abi_encode(),
            )
            .await?;
            let deadline = clock::now_ms() / 1000 + 3600;
            let spender = self.keys.relayer().map(|r| r.address()).unwrap_or(master);
            json!({
                "method": "permit",
                "signWith": payment.destination.to_checksum(None),
                "derivationPath": format!("m/44'/60'/0'/0/{}", payment.derivation_index),
                "typedData": permit::typed_data(chain, token, domain, &PermitTerms {
                    owner: payment.destination, spender, value: balance, nonce, deadline: U256::from(deadline),
                }),
                "then": { "from": spender.to_checksum(None), "to": token.address.to_checksum(None),
                          "data": Bytes::from(IERC20::transferFromCall { from: payment.destination, to: master, amount: balance }.abi_encode()),
                          "value": "0" }
            })
        } else {
            let top_up = self.top_up_needed(provider, payment.destination).await?;
            json!({
                            "method": "transfer",
                            "transactions": [
            { "note": "gas for the destination's own transfer (send first)", "to": payment.destination.to_checksum(None),
                                  "value": top_up.to_string(), "data": "0x" },
                                { "from": payment.destination.to_checksum(None),
                                  "derivationPath": format!("m/44'/60'/0'/0/{}", payment.derivation_index),
                                  "to": token.address.to_checksum(None), "value": "0",
                                  "data": Bytes::from(IERC20::transferCall { to: master, amount: balance }.abi_encode()) }
                            ]
                        })
        };
        let mut result = SweepResult::new(payment, SweepStatus::Built);
        result.amount = Some(BaseUnits(balance));
        result.payload = Some(payload);
        Ok(result)
    }
}

fn token_call(token: &Token, data: Vec<u8>) -> TxRequest {
    TxRequest { to: token.address, value: U256::ZERO, data: Bytes::from(data), gas_limit: TOKEN_CALL_GAS }
}

async fn call_u256(provider: &RootProvider, to: Address, data: Vec<u8>) -> Result<U256, OutboundError> {
    let out = provider.call(TransactionRequest::default().to(to).input(data.into())).await?;
    if out.len() < 32 {
        return Err(OutboundError::Sign(format!("{to} answered {} bytes, not a uint256", out.len())));
    }
    Ok(U256::from_be_slice(&out[..32]))
}

/// The sweep cron: while running, sweeps every completed payment's destination each interval.
/// Whether it runs lives in the database, so any instance starts, stops or reads it; where chains
/// are leased, an instance sweeps only the chains whose lease it holds, so each destination has
/// one sweeper whatever the number of instances.
pub struct SweepCron {
    store: Store,
    interval: Duration,
    /// This instance's chain-lease holder name, when chains are leased.
    lease_holder: Option<String>,
    wake: tokio::sync::Notify,
    /// When this instance last began a run.
    last_local: std::sync::Mutex<Option<i64>>,
}

/// What one cron run did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CronRun {
    pub at: String,
    pub success: usize,
    pub error: usize,
    pub skipped: usize,
    pub built: usize,
}

impl SweepCron {
    pub fn new(store: Store, interval: Duration, lease_holder: Option<String>) -> Self {
        Self {
            store,
            interval,
            lease_holder,
            wake: tokio::sync::Notify::new(),
            last_local: std::sync::Mutex::new(None),
        }
    }

    /// Sets the state the configuration asks for, unless the database already has one.
    pub async fn seed(&self, running: bool) -> Result<(), StoreError> {
        self.store.seed_sweep_cron(running, clock::now_ms()).await
    }

    /// Starts it for every instance; the first run is now.
    pub async fn start(&self) -> Result<(), StoreError> {
        self.store.set_sweep_cron(true, clock::now_ms()).await?;
        self.wake.notify_one();
        Ok(())
    }

    pub async fn stop(&self) -> Result<(), StoreError> {
        self.store.set_sweep_cron(false, clock::now_ms()).await
    }

    pub async fn is_running(&self) -> Result<bool, StoreError> {
        Ok(self.store.sweep_cron().await?.running)
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The last run of any instance.
    pub async fn last_run(&self) -> Result<Option<CronRun>, StoreError> {
        Ok(self.store.sweep_cron().await?.last_run.and_then(|text| serde_json::from_str(&text).ok()))
    }

    fn last_local(&self) -> Option<i64> {
        *self.last_local.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a run is due: started, and never run here since it was started or not within
    /// the interval.
    async fn due(&self, now: i64) -> Result<bool, StoreError> {
        let state = self.store.sweep_cron().await?;
        if !state.running {
            return Ok(false);
        }
        let interval = i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX / 4);
        Ok(match self.last_local() {
            None => true,
            Some(last) => state.started_at.is_some_and(|started| started > last) || now - last >= interval,
        })
    }

    /// The payments this instance sweeps: all of them, or those on the chains it follows.
    async fn payments(&self, now: i64) -> Result<Vec<Payment>, StoreError> {
        let payments = self.store.sweepable_payments(None, None).await?;
        let Some(holder) = &self.lease_holder else { return Ok(payments) };
        let held: Vec<_> = self
            .store
            .leases()
            .await?
            .into_iter()
            .filter(|(_, h, expires_at)| h == holder && *expires_at > now)
            .map(|(chain, ..)| chain)
            .collect();
        Ok(payments.into_iter().filter(|p| held.contains(&p.rail.chain_id)).collect())
    }

    async fn run_once(&self, sweeper: &Sweeper, now: i64) {
        *self.last_local.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(now);
        let mut run = CronRun { at: clock::rfc3339(now), ..Default::default() };
        match self.payments(now).await {
            Ok(payments) => {
                for payment in &payments {
                    match sweeper.sweep(payment, BaseUnits::ZERO).await.status {
                        SweepStatus::Success => run.success += 1,
                        SweepStatus::Error => run.error += 1,
                        SweepStatus::Skipped => run.skipped += 1,
                        SweepStatus::Built => run.built += 1,
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, "sweep cron could not list payments");
                run.error += 1;
            }
        }
        if run.success + run.error > 0 {
            info!(success = run.success, error = run.error, skipped = run.skipped, "sweep cron run");
        }
        let report = json!(run).to_string();
        if let Err(e) = self.store.save_sweep_cron_run(&report, clock::now_ms()).await {
            warn!(error = %e, "sweep cron could not record its run");
        }
    }

    /// Runs until cancelled, sweeping while started (as the database says). A failing run is
    /// logged and counted; the loop goes on.
    pub async fn run(
        self: Arc<Self>,
        sweeper: Arc<Sweeper>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<(), std::convert::Infallible> {
        // Another instance's start is seen within this.
        let poll = self.interval.min(Duration::from_secs(1));
        loop {
            let now = clock::now_ms();
            match self.due(now).await {
                Ok(true) => self.run_once(&sweeper, now).await,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "sweep cron could not read its state"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}
