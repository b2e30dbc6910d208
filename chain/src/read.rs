//! The contract reads more than one part of payscan makes.

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use payscan_core::quote::FeedRound;

use crate::abi::{IAggregatorV3, IERC20};
use crate::error::ChainError;

/// An ERC-20 balance in the newest block. Not the node's pending state (alloy's default for
/// `eth_call`): transfers still in its pool are not money yet, and they are node-dependent.
pub async fn token_balance(provider: &RootProvider, token: Address, owner: Address) -> Result<U256, ChainError> {
    let call = IERC20::balanceOfCall { owner };
    let request = TransactionRequest::default().to(token).input(call.abi_encode().into());
    let out = provider.call(request).block(BlockId::latest()).await?;
    IERC20::balanceOfCall::abi_decode_returns(&out).map_err(|_| ChainError::Incomplete("a balanceOf answer"))
}

/// A price feed's latest round.
pub async fn latest_round(provider: &RootProvider, feed: Address) -> Result<FeedRound, ChainError> {
    let call = |data: Vec<u8>| TransactionRequest::default().to(feed).input(data.into());
    let out = provider.call(call(IAggregatorV3::decimalsCall {}.abi_encode())).block(BlockId::latest()).await?;
    let decimals = IAggregatorV3::decimalsCall::abi_decode_returns(&out)
        .map_err(|_| ChainError::Incomplete("a feed's decimals"))?;
    let out = provider.call(call(IAggregatorV3::latestRoundDataCall {}.abi_encode())).block(BlockId::latest()).await?;
    let round = IAggregatorV3::latestRoundDataCall::abi_decode_returns(&out)
        .map_err(|_| ChainError::Incomplete("a feed's latestRoundData"))?;
    Ok(FeedRound {
        feed,
        round_id: U256::from(round.roundId),
        answer: i128::try_from(round.answer).map_err(|_| ChainError::Incomplete("a feed answer in range"))?,
        decimals,
        updated_at: u64::try_from(round.updatedAt).unwrap_or(0),
    })
}
