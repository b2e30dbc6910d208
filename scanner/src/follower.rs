//! A chain follower: a checkpointed stage that asks `eth_getLogs` for registry-token `Transfer`
//! logs over adaptive block ranges, matches their recipients against the watch set, credits the
//! matches and moves its cursor, all in one transaction per range. The cursor never passes the
//! head of the node that answered, nor, near the head, what the block headers prove complete.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_core::registry::{redact_url, Chain};
use payscan_core::store::credits::ProxyPayment;
use payscan_core::store::cursors::Checkpoint;
use payscan_core::store::leases::HeldLease;
use payscan_core::store::{Store, Tx};
use payscan_core::{clock, failpoint, BaseUnits};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};

use crate::confirmations;
use crate::credit::{self, CreditOutcome, Transfer};
use crate::error::FollowerError;
use crate::metrics::ScannerMetrics;
use crate::pool::RpcPool;
use crate::range::RangeSizer;
use crate::reorg;
use crate::status::{ChainState, ScannerStatus};
use crate::supervisor::FollowerContext;
use crate::watch::WatchSet;

mod scan;

use scan::Scan;

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// Processed `[from, to]`; `head` is the node's head at the time.
    Advanced { from: u64, to: u64, head: u64, logs: usize, credits: usize },
    /// Nothing new: the cursor is at the head.
    AtHead { head: u64 },
    /// The node that answered does not have the block it claimed as head; try again.
    NodeBehind { block: u64 },
    /// A reorg: everything above `ancestor` was unwound; the next ticks scan the new branch.
    Unwound { from: u64, ancestor: u64 },
    /// The answers for `block` could not be proven complete or of one branch; asked again later.
    Unproven { block: u64 },
}

/// Follows one chain.
pub struct Follower {
    chain: Chain,
    tokens: Vec<Address>,
    rpcs: RpcPool,
    store: Store,
    watch: Arc<WatchSet>,
    metrics: ScannerMetrics,
    status: Arc<ScannerStatus>,
    range: RangeSizer,
    label: String,
    /// The head confirmations were last evaluated at; they only change when it does.
    evaluated_head: Option<u64>,
    max_reorg_depth: u64,
    /// A block whose bloom promises logs no answer had: (number, hash, ticks seen so).
    suspect: Option<(u64, B256, u32)>,
    /// The chain's lease when instances share the database: every write checks it first.
    lease: Option<HeldLease>,
}

impl Follower {
    pub fn new(chain: Chain, context: FollowerContext) -> Result<Self, FollowerError> {
        let label = chain.chain_id.to_string();
        // An endpoint whose head stands still this long while another's moves on is set aside.
        let stale_after = (context.settings.poll_interval * 10).max(Duration::from_secs(2));
        let rpcs = RpcPool::new(
            &chain.rpc_endpoints(),
            context.settings.rpc_timeout,
            context.settings.rpc_max_answer_bytes,
            context.settings.poll_interval,
            stale_after,
            &context.metrics,
            label.clone(),
        )?;
        let tokens = chain.tokens.iter().map(|t| t.address).collect();
        context.status.update(chain.chain_id, |s| s.rpc = redact_url(&chain.rpc_url));
        Ok(Self {
            range: RangeSizer::new(context.settings.max_block_range),
            max_reorg_depth: context.settings.max_reorg_depth,
            chain,
            tokens,
            rpcs,
            store: context.store,
            watch: context.watch,
            metrics: context.metrics,
            status: context.status,
            label,
            evaluated_head: None,
            suspect: None,
            lease: None,
        })
    }

    /// Writes only while `holder` holds the chain's lease: each transaction checks and extends
    /// it first, and a follower that finds it taken over stops before committing anything.
    pub fn with_lease(mut self, holder: &str, ttl: Duration) -> Self {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4);
        self.lease = Some(HeldLease { chain_id: self.chain.chain_id, holder: holder.to_owned(), ttl_ms });
        self
    }

    /// Checks, inside `tx`, that this instance still holds the chain's lease.
    async fn hold(&self, tx: &mut Tx) -> Result<(), FollowerError> {
        hold(&self.store, self.lease.as_ref(), tx).await
    }

    /// The effective threshold now: an admin's change applies from the next tick.
    async fn threshold(&self) -> Result<u64, FollowerError> {
        let admin_override = self.store.threshold_override(self.chain.chain_id).await?;
        Ok(self.chain.effective_threshold(admin_override))
    }

    /// One step: the next range up to the node's head, then the confirmations it brings.
    #[instrument(name = "follower_tick", skip_all, fields(chain_id = %self.chain.chain_id))]
    pub async fn tick(&mut self) -> Result<TickOutcome, FollowerError> {
        let head = match self.rpcs.head().await {
            Ok(head) => head,
            Err(e) => {
                self.status.unreachable(self.chain.chain_id);
                return Err(e);
            }
        };
        // After the head: a transfer in a block up to `head` pays a payment created before that
        // block existed, so before this refresh. Refreshed first, a payment created and paid
        // between the refresh and the head read would be scanned past unseen.
        let watched = self.watch.refresh(&self.store).await?;
        if watched > 0 {
            debug!(changes = watched, total = self.watch.len(), "watch set refreshed");
        }
        self.metrics.watched.set(self.watch.len() as i64);
        let serving = self.rpcs.serving_label().to_owned();
        self.status.update(self.chain.chain_id, |s| {
            s.rpc = serving;
            s.unreachable_ticks = 0;
        });
        self.metrics.head.with_label_values(&[&self.label]).set(head as i64);
        let checkpoint = match self.store.checkpoint(self.chain.chain_id).await? {
            Some(checkpoint) => checkpoint,
            None => self.first_checkpoint(head).await?,
        };
        self.report_cursor(checkpoint.number, head);
        let threshold = self.threshold().await?;

        if let Some(outcome) = self.check_continuity(checkpoint, head, threshold).await? {
            return Ok(outcome);
        }
        if checkpoint.number >= head {
            return self.evaluate(head, threshold).await.map(|_| TickOutcome::AtHead { head });
        }

        let from = checkpoint.number + 1;
        let scan = match self.scan(checkpoint, head).await? {
            Scan::Scanned(scan) => scan,
            Scan::Retry(outcome) => return Ok(outcome),
        };
        failpoint::reached("follower.logs_fetched");
        let (to, end, logs) = (scan.end.number, scan.end, scan.logs);
        self.range.observe(logs.len());
        self.metrics.range_blocks.with_label_values(&[&self.label]).set(self.range.get() as i64);
        self.metrics.logs.with_label_values(&[&self.label]).inc_by(logs.len() as u64);

        let transfers = self.match_logs(&logs, end.number, end.hash)?;
        let now = clock::now_ms();
        let mut tx = self.store.begin().await?;
        self.hold(&mut tx).await?;
        // Every block a reorg within the limit could still replace: its fork point is then found.
        for header in &scan.headers {
            let block = Checkpoint { number: header.number, hash: header.hash };
            self.store.save_block_hash(&mut tx, self.chain.chain_id, block).await?;
        }
        let mut credits = 0;
        for (transfer, payment_id) in &transfers {
            let outcome = credit::apply(&self.store, &mut tx, transfer, payment_id, head, threshold, now).await?;
            if let CreditOutcome::Applied(kind) = outcome {
                credits += 1;
                self.metrics.credits.with_label_values(&[&self.label, kind.as_str()]).inc();
                info!(payment_id = %payment_id, tx = %transfer.tx_hash, amount = %transfer.amount, event = kind.as_str(), "transfer credited");
            }
            let block = Checkpoint { number: transfer.block_number, hash: transfer.block_hash };
            self.store.save_block_hash(&mut tx, self.chain.chain_id, block).await?;
        }
        self.status.update(self.chain.chain_id, |s| s.cursor_timestamp = Some(end.timestamp));
        let age = (now / 1000).saturating_sub(i64::try_from(end.timestamp).unwrap_or(i64::MAX));
        self.metrics.lag_seconds.with_label_values(&[&self.label]).set(age.max(0));
        let cursor = Checkpoint { number: end.number, hash: end.hash };
        self.store.save_checkpoint(&mut tx, self.chain.chain_id, cursor, now).await?;
        self.store.save_cursor_time(&mut tx, self.chain.chain_id, end.timestamp).await?;
        self.store.commit_with_events(tx).await?;
        self.report_cursor(to, head);
        if credits > 0 {
            failpoint::reached("follower.credited");
            // New money changes what the same head means for confirmations.
            self.evaluated_head = None;
        }

        if let Some(outcome) = self.evaluate(head, threshold).await? {
            return Ok(outcome);
        }
        Ok(TickOutcome::Advanced { from, to, head, logs: logs.len(), credits })
    }

    /// Is the block the cursor points at still the node's? If not, a reorg happened: unwind to
    /// the common ancestor. A node whose head is below the cursor is either lagging (its blocks
    /// still match ours) or on a shorter branch.
    async fn check_continuity(
        &mut self,
        checkpoint: Checkpoint,
        head: u64,
        threshold: u64,
    ) -> Result<Option<TickOutcome>, FollowerError> {
        let probe = if checkpoint.number <= head {
            checkpoint
        } else {
            match self.store.block_hashes_down(self.chain.chain_id, head, 0).await?.first() {
                Some(kept) => *kept,
                None => return Ok(Some(TickOutcome::NodeBehind { block: checkpoint.number })),
            }
        };
        match self.block(probe.number).await? {
            None => Ok(Some(TickOutcome::NodeBehind { block: probe.number })),
            Some(block) if block.hash == probe.hash && checkpoint.number <= head => Ok(None),
            Some(block) if block.hash == probe.hash => Ok(Some(TickOutcome::NodeBehind { block: checkpoint.number })),
            Some(_) => self.unwind(checkpoint.number, checkpoint.number, threshold).await.map(Some),
        }
    }

    /// Unwinds everything credited above the newest kept block at or below `search_from` that the
    /// node still has.
    async fn unwind(&mut self, cursor: u64, search_from: u64, threshold: u64) -> Result<TickOutcome, FollowerError> {
        let chain_id = self.chain.chain_id;
        // An operator may have looked at a reorg deeper than the limit and authorized one unwind
        // that searches further back.
        let authorized = self.store.unwind_authorization(chain_id).await?;
        let max_depth = authorized.map_or(self.max_reorg_depth, |depth| depth.max(self.max_reorg_depth));
        let ancestor =
            match reorg::find_ancestor(self.rpcs.serving(), &self.store, chain_id, search_from, max_depth).await {
                Ok(ancestor) => ancestor,
                Err(e @ FollowerError::ReorgTooDeep { .. }) => {
                    if authorized.is_some() {
                        self.store.revoke_unwind(chain_id).await?;
                    }
                    self.metrics.reorgs.with_label_values(&[&self.label, "too_deep"]).inc();
                    error!(chain_id = %chain_id, cursor, max_depth,
                    "REORG DEEPER THAN THE LIMIT: this chain is halted until an operator authorizes an unwind");
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
        let unwind =
            reorg::unwind(&self.store, self.lease.as_ref(), chain_id, cursor, ancestor, threshold, clock::now_ms())
                .await?;
        if authorized.is_some() {
            self.store.clear_halt(chain_id).await?;
            warn!(chain_id = %chain_id, max_depth, "authorized unwind done: the chain follows again");
        }
        self.metrics.reorgs.with_label_values(&[&self.label, "unwound"]).inc();
        self.metrics.reorg_depth.with_label_values(&[&self.label]).set(unwind.depth() as i64);
        self.metrics.reverted_credits.with_label_values(&[&self.label]).inc_by(unwind.reverted_credits);
        warn!(chain_id = %chain_id, from = cursor, ancestor = ancestor.number, depth = unwind.depth(),
            reverted_credits = unwind.reverted_credits, payments = unwind.payments, "reorg unwound");
        self.evaluated_head = None;
        self.report_cursor(ancestor.number, cursor);
        Ok(TickOutcome::Unwound { from: cursor, ancestor: ancestor.number })
    }

    /// A chain seen for the first time starts one range behind the head, so that payments created
    /// just before payscan first reached it are still found.
    async fn first_checkpoint(&mut self, head: u64) -> Result<Checkpoint, FollowerError> {
        let number = head.saturating_sub(self.range.get());
        let block = self.block(number).await?.ok_or(FollowerError::Incomplete("the start block"))?;
        let checkpoint = Checkpoint { number, hash: block.hash };
        let mut tx = self.store.begin().await?;
        self.hold(&mut tx).await?;
        self.store.save_checkpoint(&mut tx, self.chain.chain_id, checkpoint, clock::now_ms()).await?;
        tx.commit().await.map_err(payscan_core::store::StoreError::from)?;
        info!(block = number, head, "chain followed for the first time");
        Ok(checkpoint)
    }

    /// Decodes the logs and keeps the transfers to watched destinations.
    fn match_logs(
        &self,
        logs: &[Log],
        end: u64,
        end_hash: alloy::primitives::B256,
    ) -> Result<Vec<(Transfer, payscan_core::PaymentId)>, FollowerError> {
        let position = |log: &Log| -> Result<(B256, u64, u64, B256), FollowerError> {
            let (Some(tx_hash), Some(log_index), Some(block_number), Some(block_hash)) =
                (log.transaction_hash, log.log_index, log.block_number, log.block_hash)
            else {
                return Err(FollowerError::Incomplete("log position"));
            };
            // A log of the end block whose hash differs was read across a reorg: retry the range.
            if block_number == end && block_hash != end_hash {
                return Err(FollowerError::Incomplete("a consistent end block"));
            }
            Ok((tx_hash, log_index, block_number, block_hash))
        };
        let proxy = self.chain.proxy_address;
        let live = || logs.iter().filter(|log| !log.removed);
        let mut matched = Vec::new();
        // Token transfers that a matched fee-proxy payment made: credited once, through the
        // proxy's log (which carries the reference), not again as a plain transfer.
        let mut paid_by_proxy: HashMap<(B256, Address, Address, U256), usize> = HashMap::new();
        for log in live().filter(|log| Some(log.inner.address) == proxy) {
            let Some((payment_id, reference)) = log.topics().get(1).and_then(|t| self.watch.by_reference_topic(t))
            else {
                continue;
            };
            let Ok(decoded) = log.log_decode::<IERC20FeeProxy::TransferWithReferenceAndFee>() else { continue };
            let event = &decoded.inner.data;
            let (tx_hash, log_index, block_number, block_hash) = position(log)?;
            let from = live()
                .filter(|l| l.transaction_hash == Some(tx_hash) && l.inner.address == event.tokenAddress)
                .filter_map(|l| l.log_decode::<IERC20::Transfer>().ok())
                .find(|t| t.inner.data.to == event.to && t.inner.data.value == event.amount)
                .map_or(Address::ZERO, |t| t.inner.data.from);
            *paid_by_proxy.entry((tx_hash, event.tokenAddress, event.to, event.amount)).or_default() += 1;
            matched.push((
                Transfer {
                    chain_id: self.chain.chain_id,
                    token: event.tokenAddress,
                    from,
                    to: event.to,
                    amount: BaseUnits(event.amount),
                    tx_hash,
                    log_index,
                    block_number,
                    block_hash,
                    proxy: Some(ProxyPayment {
                        reference,
                        fee_amount: BaseUnits(event.feeAmount),
                        fee_address: event.feeAddress,
                    }),
                },
                payment_id,
            ));
        }
        for log in live() {
            if !self.tokens.contains(&log.inner.address) {
                continue;
            }
            let Ok(decoded) = log.log_decode::<IERC20::Transfer>() else {
                // Not a standard Transfer (e.g. a non-indexed variant); not a payment to us.
                continue;
            };
            let event = &decoded.inner.data;
            let Some(payment_id) = self.watch.get(&event.to) else { continue };
            let (tx_hash, log_index, block_number, block_hash) = position(log)?;
            if let Some(left) = paid_by_proxy.get_mut(&(tx_hash, log.inner.address, event.to, event.value)) {
                if *left > 0 {
                    *left -= 1;
                    continue;
                }
            }
            matched.push((
                Transfer {
                    chain_id: self.chain.chain_id,
                    token: log.inner.address,
                    from: event.from,
                    to: event.to,
                    amount: BaseUnits(event.value),
                    tx_hash,
                    log_index,
                    block_number,
                    block_hash,
                    proxy: None,
                },
                payment_id,
            ));
        }
        Ok(matched)
    }

    /// Confirmations and Transaction Safety at `head`; an unwind when safety found a credited
    /// block the node no longer has.
    async fn evaluate(&mut self, head: u64, threshold: u64) -> Result<Option<TickOutcome>, FollowerError> {
        if self.evaluated_head == Some(head) {
            return Ok(None);
        }
        let evaluation = confirmations::evaluate(
            &self.store,
            self.lease.as_ref(),
            self.rpcs.verifier(),
            &self.chain,
            head,
            threshold,
            clock::now_ms(),
        )
        .await?;
        if evaluation.completed + evaluation.underpaid > 0 {
            info!(
                completed = evaluation.completed,
                underpaid = evaluation.underpaid,
                head,
                "payments reached the threshold"
            );
        }
        if evaluation.safety_failed > 0 {
            self.metrics.safety_failures.with_label_values(&[&self.label]).inc_by(evaluation.safety_failed as u64);
        }
        if let Some(stale) = evaluation.stale_block {
            let cursor = self.store.checkpoint(self.chain.chain_id).await?.map_or(stale, |c| c.number);
            return self.unwind(cursor, stale, threshold).await.map(Some);
        }
        // Checks the node could not answer are made again on the next tick.
        self.evaluated_head = (!evaluation.inconclusive).then_some(head);
        Ok(None)
    }

    fn report_cursor(&self, cursor: u64, head: u64) {
        self.status.update(self.chain.chain_id, |s| {
            s.head = Some(head);
            s.cursor = Some(cursor);
        });
        self.metrics.cursor.with_label_values(&[&self.label]).set(cursor as i64);
        self.metrics.lag_blocks.with_label_values(&[&self.label]).set(head.saturating_sub(cursor) as i64);
    }

    /// Waits, halted, until an operator authorizes an unwind (`POST
    /// /api/admin/scanner/chains/:chainId/unwind`, on any instance): true then, false once
    /// cancelled. Nothing is read from the chain meanwhile; the halt is in the database, so a
    /// restart or another instance taking the lease stays halted.
    async fn halted(&self, cancel: &CancellationToken, poll: Duration) -> bool {
        let chain_id = self.chain.chain_id;
        self.status.update(chain_id, |s| s.state = ChainState::Halted);
        loop {
            match self.store.halt_chain(chain_id, clock::now_ms()).await {
                Ok(()) => break,
                Err(e) => warn!(chain_id = %chain_id, error = %e, "could not record the halt; retrying"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(poll) => {}
            }
        }
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(poll) => {}
            }
            match self.store.unwind_authorization(chain_id).await {
                Ok(Some(depth)) => {
                    info!(chain_id = %chain_id, depth, "an unwind was authorized; searching for the fork point");
                    return true;
                }
                Ok(None) => {}
                Err(e) => warn!(chain_id = %chain_id, error = %e, "could not read the unwind authorization"),
            }
        }
    }

    /// Ticks until cancelled. Errors are logged, counted and retried with backoff; only an error
    /// that retrying cannot fix ends the loop, and it is returned.
    pub async fn run(mut self, cancel: CancellationToken, poll: Duration) -> Result<(), FollowerError> {
        info!(chain_id = %self.chain.chain_id, rpcs = self.chain.rpc_endpoints().len(), tokens = self.tokens.len(), "follower started");
        let mut backoff = poll;
        let mut progress = Progress::new();
        // With a WebSocket endpoint, a new head cuts the wait short; polling stays the truth.
        let wake = Arc::new(Notify::new());
        let heads = cancel.child_token();
        let _stop_heads = heads.clone().drop_guard();
        if let Some(url) = self.chain.ws_url.clone() {
            tokio::spawn(crate::heads::follow(self.chain.chain_id, url, wake.clone(), heads));
        }
        while !cancel.is_cancelled() {
            let result = self.tick().await;
            match &result {
                Ok(_) => self.status.succeeded(self.chain.chain_id),
                Err(e) => self.status.failed(self.chain.chain_id, &e.to_string()),
            }
            let wait = match result {
                Ok(TickOutcome::Advanced { from, to, head, logs, .. }) => {
                    backoff = poll;
                    progress.record(to - from + 1, logs, to, head);
                    if to < head {
                        continue;
                    }
                    poll
                }
                Ok(TickOutcome::AtHead { .. }) => {
                    backoff = poll;
                    poll
                }
                Ok(TickOutcome::NodeBehind { block }) => {
                    debug!(block, "rpc node is behind its own head; waiting");
                    poll
                }
                Ok(TickOutcome::Unproven { block }) => {
                    debug!(block, "rpc answers not proven complete; asking again");
                    poll
                }
                Ok(TickOutcome::Unwound { .. }) => continue,
                Err(e @ FollowerError::ReorgTooDeep { .. }) => {
                    self.metrics.rpc_errors.with_label_values(&[&self.label, e.kind()]).inc();
                    if !self.halted(&cancel, poll).await {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    self.metrics.rpc_errors.with_label_values(&[&self.label, e.kind()]).inc();
                    if !e.is_retryable() {
                        error!(chain_id = %self.chain.chain_id, error = %e, "follower stopped");
                        return Err(e);
                    }
                    warn!(chain_id = %self.chain.chain_id, error = %e, retry_in_ms = backoff.as_millis() as u64, "follower tick failed");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        info!(chain_id = %self.chain.chain_id, "follower stopped");
        Ok(())
    }
}

/// Checks, inside `tx`, that the chain's lease (if chains are leased) is still this instance's,
/// extending it; [`FollowerError::LeaseLost`] when another instance holds it now.
pub(crate) async fn hold(store: &Store, lease: Option<&HeldLease>, tx: &mut Tx) -> Result<(), FollowerError> {
    let Some(lease) = lease else { return Ok(()) };
    if store.hold_lease(tx, lease, clock::now_ms()).await? {
        Ok(())
    } else {
        Err(FollowerError::LeaseLost)
    }
}

/// Backfill progress, logged every few seconds while the follower is behind.
struct Progress {
    since: Instant,
    blocks: u64,
    logs: usize,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(10);

    fn new() -> Self {
        Self { since: Instant::now(), blocks: 0, logs: 0 }
    }

    fn record(&mut self, blocks: u64, logs: usize, cursor: u64, head: u64) {
        self.blocks += blocks;
        self.logs += logs;
        let elapsed = self.since.elapsed();
        if elapsed >= Self::EVERY {
            let ms = elapsed.as_millis().max(1);
            let per_s = |n: u128| (n * 1000 + ms / 2) / ms;
            if head > cursor {
                info!(
                    blocks_per_s = u64::try_from(per_s(u128::from(self.blocks))).unwrap_or(u64::MAX),
                    logs_per_s = u64::try_from(per_s(self.logs as u128)).unwrap_or(u64::MAX),
                    cursor,
                    head,
                    lag_blocks = head - cursor,
                    "backfilling"
                );
            }
            *self = Self::new();
        }
    }
}
