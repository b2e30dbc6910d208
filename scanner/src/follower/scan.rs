//! One range of a follower's tick, read and proven: the headers near the head linked to the
//! cursor, every log carrying its header's hash, and every block whose bloom promises a registry
//! token's log answered with one.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_core::store::cursors::Checkpoint;
use tracing::{debug, warn};

use super::TickOutcome;
use crate::error::FollowerError;
use crate::range::is_range_too_large;
use crate::rpc::BlockRef;

/// `eth_getLogs` answers asked for one range in one tick before what is proven is committed.
const PROOF_ASKS: usize = 3;
/// Ticks a block stays unproven, answer after answer, before its bloom counts as a false positive.
const PROOF_TICKS: u32 = 3;

/// A range read and proven.
pub(super) struct Scanned {
    pub(super) end: BlockRef,
    /// The headers of the range's blocks within `max_reorg_depth` of the head, ascending.
    pub(super) headers: Vec<BlockRef>,
    pub(super) logs: Vec<Log>,
}

pub(super) enum Scan {
    Scanned(Box<Scanned>),
    Retry(TickOutcome),
}

impl super::Follower {
    /// The next range after `checkpoint`, proven complete as far as it goes: the blocks near the
    /// head (within `max_reorg_depth`) have their headers held and linked to the cursor, every log
    /// of those blocks carries its header's hash, and every block whose bloom promises a log of a
    /// registry token's `Transfer` (or the fee proxy's event) has one in the answer. An answer that
    /// falls short is asked again, of the next endpoint first; what still cannot be proven is left
    /// for the next tick and the range ends below it. Far below the head, where no node lags and
    /// no reorg within the limit reaches, only the end block is read.
    pub(super) async fn scan(&mut self, checkpoint: Checkpoint, head: u64) -> Result<Scan, FollowerError> {
        let from = checkpoint.number + 1;
        let mut to = self.range.end(from, head);
        let window_start = head.saturating_sub(self.max_reorg_depth);
        let mut headers = Vec::new();
        if to >= window_start {
            let first = from.max(window_start);
            headers = self.linked_headers(first, to).await?;
            let Some(last) = headers.last() else { return Ok(Scan::Retry(TickOutcome::NodeBehind { block: first })) };
            if first == from && headers[0].parent_hash != checkpoint.hash {
                // The cursor's block left the branch these headers are on: the next tick unwinds.
                return Ok(Scan::Retry(TickOutcome::Unproven { block: from }));
            }
            to = last.number;
        }
        let mut end = headers.last().copied();
        let mut logs: BTreeMap<(u64, u64), Log> = BTreeMap::new();
        let mut asks = 0;
        let unproven = loop {
            if end.is_none() {
                // Read before the logs: a node that has the end block has the range's logs.
                match self.block(to).await? {
                    Some(block) => end = Some(block),
                    None => return Ok(Scan::Retry(TickOutcome::NodeBehind { block: to })),
                }
            }
            let tokens = &self.tokens;
            let proxy = self.chain.proxy_address;
            let answer = match self
                .rpcs
                .call_rotated(asks, |rpc| async move { rpc.transfer_logs(tokens, proxy, from, to).await })
                .await
            {
                Ok(answer) => answer,
                Err(FollowerError::Rpc(e)) if is_range_too_large(&e) => {
                    if !self.range.shrink() {
                        return Err(FollowerError::Rpc(e));
                    }
                    debug!(range = self.range.get(), "rpc refused the range; halving it");
                    to = self.range.end(from, to);
                    headers.retain(|h| h.number <= to);
                    end = headers.last().copied();
                    logs.retain(|&(block, _), _| block <= to);
                    continue;
                }
                Err(e) => return Err(e),
            };
            asks += 1;
            let Some(end_block) = end else { continue };
            if self.merge_answer(&mut logs, answer, from, end_block, &headers)? {
                let unproven = self.unproven_block(&logs, &headers);
                if unproven.is_none() || asks >= PROOF_ASKS {
                    break unproven;
                }
            } else if asks >= PROOF_ASKS {
                // Every answer came from another branch than the headers: ask again next tick.
                return Ok(Scan::Retry(TickOutcome::Unproven { block: from }));
            }
            self.metrics.incomplete_answers.with_label_values(&[&self.label]).inc();
            debug!(from, to, asks, "eth_getLogs answer not proven complete; asking again");
        };
        if let Some(block) = unproven {
            let header = headers.iter().find(|h| h.number == block).copied();
            let hash = header.map(|h| h.hash).unwrap_or_default();
            let seen = match self.suspect {
                Some((number, suspect_hash, ticks)) if number == block && suspect_hash == hash => ticks + 1,
                _ => 1,
            };
            if seen >= PROOF_TICKS {
                // As many answers as this agree: the bloom matched by chance.
                self.suspect = None;
                self.metrics.unproven_blocks.with_label_values(&[&self.label]).inc();
                warn!(
                    block,
                    answers = seen * PROOF_ASKS as u32,
                    "block's bloom promises logs no answer has; accepting it"
                );
            } else {
                self.suspect = Some((block, hash, seen));
                if block == from {
                    return Ok(Scan::Retry(TickOutcome::Unproven { block }));
                }
                // Commit what is proven, below the block that is not.
                to = block - 1;
                headers.retain(|h| h.number <= to);
                logs.retain(|&(number, _), _| number <= to);
                end = headers.last().copied();
            }
        } else if self.suspect.is_some_and(|(number, _, _)| number <= to) {
            self.suspect = None;
        }
        let end = match end {
            Some(end) => end,
            None => match self.block(to).await? {
                Some(block) => block,
                None => return Ok(Scan::Retry(TickOutcome::NodeBehind { block: to })),
            },
        };
        Ok(Scan::Scanned(Box::new(Scanned { end, headers, logs: logs.into_values().collect() })))
    }

    /// The headers of `[first, to]` as far as they link parent to child, each missing one asked
    /// again of the next endpoint (a load balancer may send a read to a node that lags).
    pub(super) async fn linked_headers(&mut self, first: u64, to: u64) -> Result<Vec<BlockRef>, FollowerError> {
        let numbers: Vec<u64> = (first..=to).collect();
        let mut got: Vec<Option<BlockRef>> = vec![None; numbers.len()];
        for round in 0..PROOF_ASKS {
            let missing: Vec<u64> =
                numbers.iter().zip(&got).filter(|(_, block)| block.is_none()).map(|(&n, _)| n).collect();
            if missing.is_empty() {
                break;
            }
            let missing_ref = &missing;
            let answers = self.rpcs.call_rotated(round, |rpc| async move { rpc.blocks(missing_ref).await }).await?;
            for (number, answer) in missing.iter().zip(answers) {
                let Some(block) = answer.filter(|b| b.number == *number) else { continue };
                if let Some(slot) = number.checked_sub(first).and_then(|i| got.get_mut(i as usize)) {
                    *slot = Some(block);
                }
            }
        }
        let mut linked: Vec<BlockRef> = Vec::with_capacity(got.len());
        for block in got {
            match block {
                Some(block) if linked.last().is_none_or(|parent| block.parent_hash == parent.hash) => {
                    linked.push(block)
                }
                _ => break,
            }
        }
        Ok(linked)
    }

    /// Adds an answer's logs to `logs`. False, adding nothing, when the answer is not of the
    /// branch the headers are on (a log's block hash differs from the header held for it).
    pub(super) fn merge_answer(
        &self,
        logs: &mut BTreeMap<(u64, u64), Log>,
        answer: Vec<Log>,
        from: u64,
        end: BlockRef,
        headers: &[BlockRef],
    ) -> Result<bool, FollowerError> {
        let mut kept = Vec::with_capacity(answer.len());
        for log in answer {
            if log.removed {
                continue;
            }
            let (Some(number), Some(index), Some(hash)) = (log.block_number, log.log_index, log.block_hash) else {
                return Err(FollowerError::Incomplete("log position"));
            };
            if number < from || number > end.number {
                continue;
            }
            let expected = match headers.iter().find(|h| h.number == number) {
                Some(header) => Some(header.hash),
                None => (number == end.number).then_some(end.hash),
            };
            if expected.is_some_and(|expected| expected != hash) {
                return Ok(false);
            }
            kept.push(((number, index), log));
        }
        logs.extend(kept);
        Ok(true)
    }

    /// The lowest held block whose bloom promises a log the answers lack: a registry token's
    /// `Transfer` or the fee proxy's payment event.
    pub(super) fn unproven_block(&self, logs: &BTreeMap<(u64, u64), Log>, headers: &[BlockRef]) -> Option<u64> {
        let transfer = [IERC20::Transfer::SIGNATURE_HASH];
        let proxy_event = [IERC20FeeProxy::TransferWithReferenceAndFee::SIGNATURE_HASH];
        let promised = self
            .tokens
            .iter()
            .map(|token| (*token, &transfer[..]))
            .chain(self.chain.proxy_address.map(|proxy| (proxy, &proxy_event[..])));
        let promised: Vec<(Address, &[B256])> = promised.collect();
        let number = |header: &&BlockRef| header.number;
        headers
            .iter()
            .find(|header| {
                promised.iter().any(|(address, topics)| {
                    header.logs_bloom.contains_raw_log(*address, topics)
                        && !logs
                            .range((header.number, 0)..=(header.number, u64::MAX))
                            .any(|(_, log)| log.inner.address == *address)
                })
            })
            .map(|header| number(&header))
    }

    /// A block from the live endpoints, failing over between them.
    pub(super) async fn block(&mut self, number: u64) -> Result<Option<BlockRef>, FollowerError> {
        self.rpcs.call(|rpc| async move { rpc.block(number).await }).await
    }
}
