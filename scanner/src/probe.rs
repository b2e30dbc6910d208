//! A live check of one chain's RPC and fee proxy, for `POST /api/admin/rn/networks/probe/:chainId`.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use payscan_chain::abi::IERC20FeeProxy;
use payscan_core::redact::scrub_urls;
use payscan_core::registry::{redact_url, Chain};
use serde::Serialize;

use crate::error::FollowerError;
use crate::rpc::ChainRpc;

/// What the probe found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    pub chain_id: u64,
    pub reachable: bool,
    /// The node's head, `0x`-hex as JSON-RPC gives it.
    pub block_number: String,
    pub latency_ms: u64,
    pub rpc: String,
    /// The node reports the chain id the registry expects.
    pub chain_id_matches: bool,
    /// Bytecode is deployed at the registry's fee proxy address.
    pub has_code: bool,
    /// A dummy `transferFromWithReferenceAndFee` reverts with a reason, as a real fee proxy does.
    pub call_valid: bool,
    pub call_error: Option<String>,
}

/// Probes a chain; an unreachable RPC is an error (the route answers 503).
pub async fn probe(chain: &Chain, timeout: Duration) -> Result<ProbeReport, FollowerError> {
    let rpc = ChainRpc::http(&chain.rpc_url, timeout)?;
    let started = Instant::now();
    let head = rpc.head().await?;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let chain_id = rpc.provider().get_chain_id().await?;
    let (has_code, call_valid, call_error) = match chain.proxy_address {
        Some(proxy) => {
            let code = rpc.provider().get_code_at(proxy).await?;
            let dummy = IERC20FeeProxy::transferFromWithReferenceAndFeeCall {
                _tokenAddress: Address::ZERO,
                _to: Address::ZERO,
                _amount: U256::from(1u8),
                _paymentReference: Bytes::from_static(&[0u8; 8]),
                _feeAmount: U256::ZERO,
                _feeAddress: Address::ZERO,
            };
            let request = TransactionRequest::default().to(proxy).input(dummy.abi_encode().into());
            match rpc.provider().call(request).await {
                // A proxy that accepts a transfer of a token at address zero is not the fee proxy.
                Ok(_) => (!code.is_empty(), false, None),
                Err(e) if e.as_error_resp().is_some() => {
                    // Meaningful: a revert with a reason, not the bare revert of a contract without
                    // that function.
                    let reason = e.as_error_resp().and_then(|p| p.as_revert_data()).is_some_and(|d| !d.is_empty());
                    (!code.is_empty(), !code.is_empty() && reason, Some(scrub_urls(&e.to_string()).into_owned()))
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => (false, false, Some("no proxyAddress in the registry".to_owned())),
    };
    Ok(ProbeReport {
        chain_id: chain.chain_id.0,
        reachable: true,
        block_number: format!("{head:#x}"),
        latency_ms,
        rpc: redact_url(&chain.rpc_url),
        chain_id_matches: chain_id == chain.chain_id.0,
        has_code,
        call_valid,
        call_error,
    })
}
