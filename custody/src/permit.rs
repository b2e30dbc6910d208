//! EIP-2612 permits: the typed data a wallet signs, and the relayer that broadcasts a buyer's
//! signed permit so the buyer skips the approval's gas. Request Network's fee proxy pulls from
//! `msg.sender`, so the buyer still sends `transferFromWithReferenceAndFee` itself; a forwarder
//! that submits that call too would slot in behind [`PermitRelay::relay`]'s checks.
//!
//! Every check runs before any gas is spent: the payment is the caller's and pending, the spender
//! is the chain's fee proxy, the value covers the amount, the deadline is ahead, the token has
//! permit, and the signature recovers to `owner` under the token's domain and current nonce. One
//! relayed permit per payment while it is in flight or mined.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, Bytes, Signature, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};
use payscan_chain::abi::{IERC20Permit, Permit, IERC20};
use payscan_core::registry::{Chain, PermitDomain, SharedRegistry, Token};
use payscan_core::store::outbound::OutboundStatus;
use payscan_core::store::{Payment, Store, StoreError};
use payscan_core::{clock, ChainId, PaymentStatus, Provider as Rail};
use serde::Serialize;
use serde_json::{json, Value};
use tracing::info;

use crate::keys::Keys;
use crate::outbound::{Guard, OutboundError, OutboundSettings, Sender, TxRequest};

/// Gas a `permit` may use.
pub const PERMIT_GAS: u64 = 120_000;
/// How long a relay waits for its permit's receipt before answering that it is still pending.
const WAIT: Duration = Duration::from_secs(30);
/// A permit must stay valid at least this long after it reaches payscan.
const MIN_DEADLINE_SECS: i64 = 60;

/// What a permit authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermitTerms {
    pub owner: Address,
    pub spender: Address,
    pub value: U256,
    pub nonce: U256,
    pub deadline: U256,
}

fn domain(chain: &Chain, token: &Token, permit: &PermitDomain) -> Eip712Domain {
    Eip712Domain::new(
        Some(permit.name.clone().into()),
        Some(permit.version.clone().into()),
        Some(U256::from(chain.chain_id.0)),
        Some(token.address),
        None,
    )
}

/// The EIP-712 digest a permit's signature signs.
pub fn signing_hash(chain: &Chain, token: &Token, permit: &PermitDomain, terms: &PermitTerms) -> B256 {
    let message = Permit {
        owner: terms.owner,
        spender: terms.spender,
        value: terms.value,
        nonce: terms.nonce,
        deadline: terms.deadline,
    };
    message.eip712_signing_hash(&domain(chain, token, permit))
}

/// The typed data of a permit, as `eth_signTypedData_v4` takes it.
pub fn typed_data(chain: &Chain, token: &Token, permit: &PermitDomain, terms: &PermitTerms) -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" }, { "name": "version", "type": "string" },
                { "name": "chainId", "type": "uint256" }, { "name": "verifyingContract", "type": "address" }
            ],
            "Permit": [
                { "name": "owner", "type": "address" }, { "name": "spender", "type": "address" },
                { "name": "value", "type": "uint256" }, { "name": "nonce", "type": "uint256" },
                { "name": "deadline", "type": "uint256" }
            ]
        },
        "primaryType": "Permit",
        "domain": { "name": permit.name, "version": permit.version, "chainId": chain.chain_id,
                    "verifyingContract": token.address.to_checksum(None) },
        "message": { "owner": terms.owner.to_checksum(None), "spender": terms.spender.to_checksum(None),
                     "value": terms.value.to_string(), "nonce": terms.nonce.to_string(),
                     "deadline": terms.deadline.to_string() }
    })
}

/// Why a permit was refused or could not be relayed.
#[derive(Debug, thiserror::Error)]
pub enum PermitError {
    /// The permit does not fit the payment (every check before gas).
    #[error("{0}")]
    Invalid(String),
    /// The payment cannot take a permit now.
    #[error("{0}")]
    State(String),
    #[error("{0}")]
    RelayerUnavailable(String),
    #[error("chain {0}'s RPC did not answer")]
    ChainUnavailable(ChainId),
    /// Broadcast, mined, and reverted without the allowance being set.
    #[error("{0}")]
    Failed(String),
    /// Another permit of the payment is in flight or mined: the relayer pays for one only.
    #[error("{0}")]
    AlreadyRelayed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OutboundError> for PermitError {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::Store(e) => Self::Store(e),
            OutboundError::Refused(reason) => Self::AlreadyRelayed(reason),
            e @ OutboundError::FeeAboveCap { .. } => Self::RelayerUnavailable(e.to_string()),
            other => Self::RelayerUnavailable(format!("the relayer could not send: {other}")),
        }
    }
}

/// A buyer's signed permit, as the route receives it.
#[derive(Debug, Clone)]
pub struct SignedPermit {
    pub terms: PermitTerms,
    pub signature: Signature,
}

/// Whether the relayer can sponsor a permit on a chain and token.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relayer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_wei: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_wei: Option<String>,
}

impl Availability {
    fn no(reason: impl Into<String>) -> Self {
        Self { available: false, reason: Some(reason.into()), relayer: None, balance_wei: None, required_wei: None }
    }
}

/// What a relayed permit did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Relayed {
    /// The relayer's transaction; none when the allowance was already there.
    pub tx_hash: Option<String>,
    /// The fee proxy's allowance from `owner` now, in base units.
    pub allowance: String,
    /// `mined`, `pending` (not mined within the wait; it goes on), or `already_approved`
    /// (someone set the allowance first: a front-run permit is a success).
    pub status: &'static str,
}

/// Broadcasts buyers' permits from the relayer.
pub struct PermitRelay {
    store: Store,
    keys: Arc<Keys>,
    registry: SharedRegistry,
    settings: OutboundSettings,
}

impl PermitRelay {
    pub fn new(store: Store, keys: Arc<Keys>, registry: SharedRegistry, settings: OutboundSettings) -> Self {
        Self { store, keys, registry, settings }
    }

    fn provider(&self, chain: &Chain) -> Result<RootProvider, PermitError> {
        payscan_chain::provider_for(chain, self.settings.rpc_timeout)
            .map_err(|_| PermitError::ChainUnavailable(chain.chain_id))
    }

    /// The relayer's balance and what one permit needs at today's fee.
    async fn gas(&self, chain: &Chain, relayer: Address) -> Result<(U256, U256), PermitError> {
        let provider = self.provider(chain)?;
        let unavailable = |_| PermitError::ChainUnavailable(chain.chain_id);
        let fees = provider.estimate_eip1559_fees().await.map_err(unavailable)?;
        let required = U256::from(PERMIT_GAS) * U256::from(fees.max_fee_per_gas.min(self.settings.max_fee_cap));
        let balance = provider.get_balance(relayer).await.map_err(unavailable)?;
        Ok((balance, required))
    }

    /// `GET …/permit-availability`: from the real relayer balance and gas price.
    pub async fn availability(&self, chain_id: ChainId, token: &str) -> Result<Availability, PermitError> {
        let registry = self.registry.current();
        let Some(chain) = registry.chain(chain_id) else {
            return Ok(Availability::no(format!("chain {chain_id} is not supported")));
        };
        let Some(token) = chain.resolve_token(token) else {
            return Ok(Availability::no(format!("{token} is not supported on {}", chain.short_name)));
        };
        if token.permit.is_none() {
            return Ok(Availability::no(format!("{} on {} has no EIP-2612 permit", token.symbol, chain.short_name)));
        }
        if chain.proxy_address.is_none() {
            return Ok(Availability::no(format!("{} has no fee proxy to approve", chain.short_name)));
        }
        let Some(relayer) = self.keys.relayer().map(|r| r.address()) else {
            return Ok(Availability::no("no relayer is configured (PAYSCAN_RELAYER_KEY)"));
        };
        let (balance, required) = self.gas(chain, relayer).await?;
        let enough = balance >= required;
        Ok(Availability {
            available: enough,
            reason: (!enough).then(|| "the relayer cannot pay the gas of a permit now".to_owned()),
            relayer: Some(relayer.to_checksum(None)),
            balance_wei: Some(balance.to_string()),
            required_wei: Some(required.to_string()),
        })
    }

    /// The permit a checkout offers `payer` for `payment`: terms with the token's current nonce.
    pub async fn offer(&self, payment: &Payment, payer: Address) -> Result<Option<Value>, PermitError> {
        let registry = self.registry.current();
        let Some(chain) = registry.chain(payment.rail.chain_id) else { return Ok(None) };
        let Some(token) = chain.token_by_address(payment.rail.token.address) else { return Ok(None) };
        let (Some(permit), Some(proxy)) = (&token.permit, chain.proxy_address) else { return Ok(None) };
        let provider = self.provider(chain)?;
        let nonce =
            read_u256(&provider, chain, token.address, IERC20Permit::noncesCall { owner: payer }.abi_encode()).await?;
        let terms = PermitTerms {
            owner: payer,
            spender: proxy,
            value: payment.rail.amount.0,
            nonce,
            deadline: U256::from(clock::now_ms() / 1000 + 3600),
        };
        Ok(Some(typed_data(chain, token, permit, &terms)))
    }

    /// Checks `signed` against `payment`'s checkout, then has the relayer broadcast `permit()`.
    pub async fn relay(&self, payment: &Payment, signed: &SignedPermit) -> Result<Relayed, PermitError> {
        let terms = &signed.terms;
        if payment.status != PaymentStatus::Pending {
            return Err(PermitError::State(format!("payment {} is {}, not pending", payment.id, payment.status)));
        }
        if payment.rail.provider != Rail::RequestNetwork {
            return Err(PermitError::State(format!(
                "payment {} is paid by a plain transfer to its address: there is nothing to approve",
                payment.id
            )));
        }
        let registry = self.registry.current();
        let chain = registry
            .chain(payment.rail.chain_id)
            .ok_or_else(|| PermitError::State(format!("chain {} is no longer supported", payment.rail.chain_id)))?;
        let token = chain
            .token_by_address(payment.rail.token.address)
            .ok_or_else(|| PermitError::State("the payment's token is no longer supported".into()))?;
        let permit = token.permit.as_ref().ok_or_else(|| {
            PermitError::Invalid(format!("{} on {} has no EIP-2612 permit", token.symbol, chain.short_name))
        })?;
        let proxy = chain
            .proxy_address
            .ok_or_else(|| PermitError::Invalid(format!("{} has no fee proxy", chain.short_name)))?;
        if terms.spender != proxy {
            return Err(PermitError::Invalid(format!("spender must be the fee proxy {}", proxy.to_checksum(None))));
        }
        if terms.value < payment.rail.amount.0 {
            return Err(PermitError::Invalid(format!(
                "value {} does not cover the payment's {} base units",
                terms.value, payment.rail.amount
            )));
        }
        let now = U256::from(clock::now_ms() / 1000);
        if terms.deadline < now + U256::from(MIN_DEADLINE_SECS) {
            return Err(PermitError::Invalid(format!(
                "deadline {} has passed or is less than {MIN_DEADLINE_SECS} s ahead",
                terms.deadline
            )));
        }
        let provider = self.provider(chain)?;
        let owner = terms.owner;
        // Someone may have submitted this very permit first (its nonce is then spent, so the
        // signature no longer checks out): the allowance the buyer wanted is there, a success.
        let allowance_call = IERC20::allowanceCall { owner, spender: proxy }.abi_encode();
        let allowance = read_u256(&provider, chain, token.address, allowance_call.clone()).await?;
        if allowance >= terms.value {
            return Ok(Relayed { tx_hash: None, allowance: allowance.to_string(), status: "already_approved" });
        }
        let nonce = read_u256(&provider, chain, token.address, IERC20Permit::noncesCall { owner }.abi_encode()).await?;
        let hash = signing_hash(chain, token, permit, &PermitTerms { nonce, ..*terms });
        let recovered = signed.signature.recover_address_from_prehash(&hash).ok();
        if recovered != Some(owner) {
            return Err(PermitError::Invalid(format!(
                "the signature does not recover to owner {} under {}'s domain and its current nonce {nonce}",
                owner.to_checksum(None),
                token.symbol
            )));
        }

        let relayer =
            self.keys.relayer().cloned().ok_or_else(|| {
                PermitError::RelayerUnavailable("no relayer is configured (PAYSCAN_RELAYER_KEY)".into())
            })?;
        let (balance, required) = self.gas(chain, relayer.address()).await?;
        if balance < required {
            return Err(PermitError::RelayerUnavailable(format!(
                "the relayer holds {balance} wei; a permit needs about {required}"
            )));
        }

        let sender = Sender::new(self.store.clone(), &chain.rpc_endpoints(), chain.chain_id, relayer, self.settings)?;
        let call = IERC20Permit::permitCall {
            owner,
            spender: proxy,
            value: terms.value,
            deadline: terms.deadline,
            v: 27 + u8::from(signed.signature.v()),
            r: B256::from(signed.signature.r()),
            s: B256::from(signed.signature.s()),
        };
        let request = TxRequest {
            to: token.address,
            value: U256::ZERO,
            data: Bytes::from(call.abi_encode()),
            gas_limit: PERMIT_GAS,
        };
        // One transaction per signed permit: asking again returns the first. Another permit for
        // the same payment is refused while one is in flight or mined, or any buyer could spend
        // the relayer's gas on permits from throwaway keys.
        let reference = format!("{}:{}:{nonce}", payment.id, owner.to_checksum(None));
        let sent = sender.send_guarded("permit", &reference, &request, Guard::OnePermit(&payment.id)).await?;
        info!(payment_id = %payment.id, tx = %sent.tx_hash, nonce = sent.nonce, "permit relayed");
        let settled = sender.wait("permit", &reference, WAIT).await?.unwrap_or(sent);
        let allowance = read_u256(&provider, chain, token.address, allowance_call).await?;
        let tx_hash = Some(format!("{:#x}", settled.tx_hash));
        match settled.status {
            OutboundStatus::Mined => Ok(Relayed { tx_hash, allowance: allowance.to_string(), status: "mined" }),
            // Reverted, or its nonce went elsewhere: if the allowance is there, someone else's
            // permit (or approve) won the race, which is what the buyer wanted.
            _ if allowance >= terms.value => {
                Ok(Relayed { tx_hash, allowance: allowance.to_string(), status: "already_approved" })
            }
            OutboundStatus::Pending => Ok(Relayed { tx_hash, allowance: allowance.to_string(), status: "pending" }),
            _ => Err(PermitError::Failed(format!(
                "the permit transaction {:#x} did not set the allowance",
                settled.tx_hash
            ))),
        }
    }
}

async fn read_u256(provider: &RootProvider, chain: &Chain, to: Address, data: Vec<u8>) -> Result<U256, PermitError> {
    let out = provider
        .call(TransactionRequest::default().to(to).input(data.into()))
        .await
        .map_err(|_| PermitError::ChainUnavailable(chain.chain_id))?;
    if out.len() < 32 {
        return Err(PermitError::Invalid(format!("{to} answered {} bytes, not a uint256", out.len())));
    }
    Ok(U256::from_be_slice(&out[..32]))
}
