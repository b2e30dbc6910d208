//! One chain's JSON-RPC endpoint, with the few calls a follower makes.

use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, Bloom, B256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, Log, TransactionReceipt};
use alloy::sol_types::SolEvent;
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_chain::transport::DEFAULT_MAX_ANSWER_BYTES;
use payscan_chain::Endpoints;

use crate::error::FollowerError;

/// A block's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
    /// Which addresses and topics the block's logs touch (with false positives, never negatives).
    pub logs_bloom: Bloom,
}

/// Header requests in flight at once on one endpoint.
const HEADER_CONCURRENCY: usize = 8;

/// A chain's RPC endpoint.
#[derive(Debug, Clone)]
pub struct ChainRpc {
    provider: RootProvider,
}

impl ChainRpc {
    /// An HTTP endpoint; each call gives up after `timeout`.
    pub fn http(url: &str, timeout: Duration) -> Result<Self, FollowerError> {
        Self::http_capped(url, timeout, DEFAULT_MAX_ANSWER_BYTES)
    }

    /// An HTTP endpoint whose answers larger than `max_answer` bytes are refused unread. Its
    /// first failure comes straight back: the pool schedules retries and fails over itself.
    pub fn http_capped(url: &str, timeout: Duration, max_answer: usize) -> Result<Self, FollowerError> {
        let provider = Endpoints::new(&[url], timeout).max_answer(max_answer).retries(0).connect()?;
        Ok(Self { provider })
    }

    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    pub async fn head(&self) -> Result<u64, FollowerError> {
        Ok(self.provider.get_block_number().await?)
    }

    /// A block's number and hash; `None` when this node does not have it (yet).
    pub async fn block(&self, number: u64) -> Result<Option<BlockRef>, FollowerError> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await?;
        Ok(block.map(|b| BlockRef {
            number: b.header.number,
            hash: b.header.hash,
            parent_hash: b.header.parent_hash,
            timestamp: b.header.timestamp,
            logs_bloom: b.header.logs_bloom,
        }))
    }

    /// The given blocks, asked a few at a time; `None` for each this node does not have or whose
    /// request failed (asked again by the caller). An error only when every request failed.
    pub async fn blocks(&self, numbers: &[u64]) -> Result<Vec<Option<BlockRef>>, FollowerError> {
        let mut blocks = Vec::with_capacity(numbers.len());
        let mut first_error = None;
        for chunk in numbers.chunks(HEADER_CONCURRENCY) {
            let asks = chunk.iter().map(|&n| {
                let rpc = self.clone();
                async move { rpc.block(n).await }
            });
            for answer in futures_util::future::join_all(asks).await {
                match answer {
                    Ok(block) => blocks.push(block),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        blocks.push(None);
                    }
                }
            }
        }
        match first_error {
            Some(e) if blocks.iter().all(Option::is_none) => Err(e),
            _ => Ok(blocks),
        }
    }

    /// The number of the node's `finalized` block, where it serves one.
    pub async fn finalized(&self) -> Result<Option<u64>, FollowerError> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Finalized).await?;
        Ok(block.map(|b| b.header.number))
    }

    /// A transaction's receipt; `None` when the node does not know the transaction.
    pub async fn receipt(&self, tx: B256) -> Result<Option<TransactionReceipt>, FollowerError> {
        Ok(self.provider.get_transaction_receipt(tx).await?)
    }

    /// The tokens' `Transfer` logs and, with a fee proxy, its `TransferWithReferenceAndFee` logs,
    /// in one query.
    pub async fn transfer_logs(
        &self,
        tokens: &[Address],
        proxy: Option<Address>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, FollowerError> {
        let mut addresses = tokens.to_vec();
        let mut events = vec![IERC20::Transfer::SIGNATURE_HASH];
        if let Some(proxy) = proxy {
            addresses.push(proxy);
            events.push(IERC20FeeProxy::TransferWithReferenceAndFee::SIGNATURE_HASH);
        }
        let filter = Filter::new().address(addresses).event_signature(events).from_block(from).to_block(to);
        Ok(self.provider.get_logs(&filter).await?)
    }
}
