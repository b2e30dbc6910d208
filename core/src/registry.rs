//! The chain and token registry: `chains.json` (an array of chains) and `tokens.json` (an object
//! keyed by chain id). Both are validated at load; a bad file is refused whole with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::redact::{RedactedOverrides, RedactedUrl, RedactedUrls};
use crate::ChainId;

/// A chain's native currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeCurrency {
    pub name: String,
    pub symbol: String,
    pub decimals: u8,
}

/// One chain, with the fields of the seed's `GET /api/admin/rn/networks`. Its RPC URLs may carry
/// API keys: Debug shows their labels only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chain {
    pub chain_id: ChainId,
    pub name: String,
    pub short_name: String,
    /// The preferred RPC endpoint.
    pub rpc_url: String,
    /// More endpoints of the same chain: the follower fails over to them and cross-checks heads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rpc_urls: Vec<String>,
    /// A WebSocket endpoint (`ws://` or `wss://`) whose `newHeads` subscription wakes the
    /// follower as soon as a block arrives, instead of at its next poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_rpc_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_explorer: Option<String>,
    /// Request Network's ERC20FeeProxy on this chain.
    #[serde(default, with = "opt_address")]
    pub proxy_address: Option<Address>,
    pub native_currency: NativeCurrency,
    /// Confirmations a payment needs before it completes.
    pub confirmation_threshold: u64,
    /// The least any override may set the threshold to.
    pub confirmation_floor: u64,
    /// Also require a payment's block to be at or below the node's `finalized` block (BSC fast
    /// finality, Polygon milestones, post-merge Ethereum).
    #[serde(default)]
    pub require_finalized: bool,
    #[serde(skip)]
    pub tokens: Vec<Token>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.chain_id)
            .field("name", &self.name)
            .field("short_name", &self.short_name)
            .field("rpc_url", &RedactedUrl(&self.rpc_url))
            .field("rpc_urls", &RedactedUrls(&self.rpc_urls))
            .field("ws_url", &self.ws_url.as_deref().map(RedactedUrl))
            .field("public_rpc_url", &self.public_rpc_url.as_deref().map(RedactedUrl))
            .field("block_explorer", &self.block_explorer)
            .field("proxy_address", &self.proxy_address)
            .field("native_currency", &self.native_currency)
            .field("confirmation_threshold", &self.confirmation_threshold)
            .field("confirmation_floor", &self.confirmation_floor)
            .field("require_finalized", &self.require_finalized)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// An ERC-20 token payscan accepts on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Token {
    #[serde(with = "checked_address")]
    pub address: Address,
    pub symbol: String,
    pub decimals: u8,
    pub name: String,
    /// The token's EIP-712 domain where it implements EIP-2612 permit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit: Option<PermitDomain>,
    /// A Chainlink-style USD price feed (`latestRoundData`) for oracle quotes.
    #[serde(default, with = "opt_address", skip_serializing_if = "Option::is_none")]
    pub price_feed: Option<Address>,
}

/// The `name` and `version` of a token's EIP-712 domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermitDomain {
    pub name: String,
    pub version: String,
}

/// Why a registry file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{file}: {error}")]
    Json { file: &'static str, error: serde_json::Error },
    #[error("chains.json: {0}")]
    Chain(String),
    #[error("tokens.json: {0}")]
    Token(String),
}

/// The validated registry.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    chains: Vec<Chain>,
}

impl Registry {
    /// Reads and validates both files.
    pub fn load(chains: &Path, tokens: &Path) -> Result<Self, RegistryError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|error| RegistryError::Read { path: path.display().to_string(), error })
        };
        Self::from_json(&read(chains)?, &read(tokens)?)
    }

    /// Parses and validates the two documents.
    pub fn from_json(chains_json: &str, tokens_json: &str) -> Result<Self, RegistryError> {
        let mut chains: Vec<Chain> =
            serde_json::from_str(chains_json).map_err(|error| RegistryError::Json { file: "chains.json", error })?;
        let tokens: BTreeMap<String, Vec<Token>> =
            serde_json::from_str(tokens_json).map_err(|error| RegistryError::Json { file: "tokens.json", error })?;

        let mut ids = HashSet::new();
        let mut short_names = HashSet::new();
        for chain in &chains {
            let id = chain.chain_id;
            if id.0 == 0 || id.0 > i64::MAX as u64 {
                return Err(RegistryError::Chain(format!("chainId {id} is out of range")));
            }
            if !ids.insert(id) {
                return Err(RegistryError::Chain(format!("chainId {id} appears twice")));
            }
            if chain.name.trim().is_empty() || chain.short_name.trim().is_empty() {
                return Err(RegistryError::Chain(format!("chain {id} needs a name and a shortName")));
            }
            if chain.short_name.parse::<u64>().is_ok() {
                return Err(RegistryError::Chain(format!("chain {id}: shortName must not be a number")));
            }
            if !short_names.insert(chain.short_name.to_ascii_lowercase()) {
                return Err(RegistryError::Chain(format!("shortName {} appears twice", chain.short_name)));
            }
            check_url(&chain.rpc_url).map_err(|e| RegistryError::Chain(format!("chain {id} rpcUrl: {e}")))?;
            for url in &chain.rpc_urls {
                check_url(url).map_err(|e| RegistryError::Chain(format!("chain {id} rpcUrls: {e}")))?;
            }
            if let Some(url) = &chain.ws_url {
                check_url_of(url, &["ws://", "wss://"], "ws(s)")
                    .map_err(|e| RegistryError::Chain(format!("chain {id} wsUrl: {e}")))?;
            }
            if let Some(url) = &chain.public_rpc_url {
                check_url(url).map_err(|e| RegistryError::Chain(format!("chain {id} publicRpcUrl: {e}")))?;
            }
            if chain.confirmation_floor == 0 {
                return Err(RegistryError::Chain(format!("chain {id}: confirmationFloor must be at least 1")));
            }
            if chain.confirmation_threshold < chain.confirmation_floor {
                return Err(RegistryError::Chain(format!(
                    "chain {id}: confirmationThreshold {} is below confirmationFloor {}",
                    chain.confirmation_threshold, chain.confirmation_floor
                )));
            }
        }

        for (key, list) in tokens {
            let id: ChainId =
                key.parse().map_err(|_| RegistryError::Token(format!("key `{key}` is not a chain id")))?;
            let chain = chains
                .iter_mut()
                .find(|c| c.chain_id == id)
                .ok_or_else(|| RegistryError::Token(format!("unknown chain {id} (not in chains.json)")))?;
            let mut symbols = HashSet::new();
            let mut addresses = HashSet::new();
            for token in &list {
                if token.symbol.trim().is_empty() {
                    return Err(RegistryError::Token(format!("chain {id}: a token has no symbol")));
                }
                if !symbols.insert(token.symbol.to_ascii_lowercase()) {
                    return Err(RegistryError::Token(format!("chain {id}: duplicate symbol {}", token.symbol)));
                }
                if !addresses.insert(token.address) {
                    return Err(RegistryError::Token(format!("chain {id}: duplicate address {}", token.address)));
                }
                if token.decimals > 36 {
                    return Err(RegistryError::Token(format!(
                        "chain {id}: {} has {} decimals (at most 36)",
                        token.symbol, token.decimals
                    )));
                }
            }
            chain.tokens = list;
        }
        Ok(Self { chains })
    }

    /// Points chains at other RPC endpoints (`PAYSCAN_RPC_<chainId>`: one URL, or several
    /// comma-separated, the first preferred).
    pub fn with_rpc_overrides(mut self, overrides: &HashMap<ChainId, String>) -> Result<Self, RegistryError> {
        for (id, list) in overrides {
            let chain =
                self.chains.iter_mut().find(|c| c.chain_id == *id).ok_or_else(|| {
                    RegistryError::Chain(format!("PAYSCAN_RPC_{id} names a chain not in chains.json"))
                })?;
            let urls: Vec<String> =
                list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
            for url in &urls {
                check_url(url).map_err(|e| RegistryError::Chain(format!("PAYSCAN_RPC_{id}: {e}")))?;
            }
            let Some((first, rest)) = urls.split_first() else {
                return Err(RegistryError::Chain(format!("PAYSCAN_RPC_{id} is empty")));
            };
            chain.rpc_url.clone_from(first);
            chain.rpc_urls = rest.to_vec();
        }
        Ok(self)
    }

    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    pub fn chain(&self, id: ChainId) -> Option<&Chain> {
        self.chains.iter().find(|c| c.chain_id == id)
    }

    /// A chain by id (`"56"`) or short name (`"bsc"`, any case).
    pub fn resolve_network(&self, network: &str) -> Option<&Chain> {
        let network = network.trim();
        match network.parse::<ChainId>() {
            Ok(id) => self.chain(id),
            Err(_) => self.chains.iter().find(|c| c.short_name.eq_ignore_ascii_case(network)),
        }
    }
}

impl Chain {
    /// The confirmations a payment on this chain needs now: an admin's override, else the
    /// configured threshold; never below the chain's floor.
    pub fn effective_threshold(&self, admin_override: Option<u64>) -> u64 {
        admin_override.unwrap_or(self.confirmation_threshold).max(self.confirmation_floor)
    }

    /// Every RPC endpoint, the preferred first, without repeats.
    pub fn rpc_endpoints(&self) -> Vec<&str> {
        let mut all = vec![self.rpc_url.as_str()];
        for url in &self.rpc_urls {
            if !all.contains(&url.as_str()) {
                all.push(url);
            }
        }
        all
    }

    /// A token by symbol (any case) or address.
    pub fn resolve_token(&self, token: &str) -> Option<&Token> {
        let token = token.trim();
        match token.parse::<Address>() {
            Ok(address) if token.starts_with("0x") => self.tokens.iter().find(|t| t.address == address),
            _ => self.tokens.iter().find(|t| t.symbol.eq_ignore_ascii_case(token)),
        }
    }

    pub fn token_by_address(&self, address: Address) -> Option<&Token> {
        self.tokens.iter().find(|t| t.address == address)
    }
}

/// Where the registry comes from, so that it can be read again without a restart.
#[derive(Clone)]
pub struct RegistrySource {
    pub chains: PathBuf,
    pub tokens: PathBuf,
    pub rpc_overrides: HashMap<ChainId, String>,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource")
            .field("chains", &self.chains)
            .field("tokens", &self.tokens)
            .field("rpc_overrides", &RedactedOverrides(&self.rpc_overrides))
            .finish()
    }
}

impl RegistrySource {
    pub fn load(&self) -> Result<Registry, RegistryError> {
        Registry::load(&self.chains, &self.tokens)?.with_rpc_overrides(&self.rpc_overrides)
    }
}

/// The registry in force, replaced whole by a reload while readers keep the one they hold.
#[derive(Debug, Clone, Default)]
pub struct SharedRegistry(Arc<RwLock<Arc<Registry>>>);

impl SharedRegistry {
    pub fn new(registry: Registry) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(registry))))
    }

    pub fn current(&self) -> Arc<Registry> {
        // A writer that panicked left a whole registry behind: keep using it.
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn replace(&self, registry: Registry) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(registry);
    }
}

pub use crate::redact::redact_url;

fn check_url(url: &str) -> Result<(), String> {
    check_url_of(url, &["http://", "https://"], "http(s)")
}

fn check_url_of(url: &str, schemes: &[&str], kind: &str) -> Result<(), String> {
    let ok = !url.contains([',', ' ', '\t', '\n'])
        && schemes
            .iter()
            .any(|scheme| url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')));
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not a {kind} URL", redact_url(url)))
    }
}

/// Parses an address, insisting on a valid EIP-55 checksum when the text is mixed-case so that a
/// mistyped address in a registry file is caught rather than watched.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let hex = text.strip_prefix("0x").ok_or_else(|| format!("`{text}` is not a 0x-prefixed address"))?;
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    if has_upper && has_lower {
        Address::parse_checksummed(text, None).map_err(|_| format!("`{text}` has a bad EIP-55 checksum"))
    } else {
        text.parse().map_err(|_| format!("`{text}` is not an address"))
    }
}

mod checked_address {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&a.to_checksum(None))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_address(&text).map_err(serde::de::Error::custom)
    }
}

mod opt_address {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.collect_str(&a.to_checksum(None)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => super::parse_address(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAINS: &str = r#"[{"chainId":56,"name":"BNB Smart Chain","shortName":"BSC","rpcUrl":"https://bsc-dataseed.binance.org/",
        "proxyAddress":"0x0DfbEe143b42B41eFC5A6F87bFD1fFC78c2f0aC9","nativeCurrency":{"name":"BNB","symbol":"BNB","decimals":18},
        "confirmationThreshold":200,"confirmationFloor":15}]"#;
    const TOKENS: &str = r#"{"56":[{"address":"0x55d398326f99059fF775485246999027B3197955","symbol":"USDT","decimals":18,"name":"Tether USD"}]}"#;

    #[test]
    fn loads_and_resolves() {
        let registry = Registry::from_json(CHAINS, TOKENS).expect("valid registry");
        let bsc = registry.resolve_network("bsc").expect("by short name");
        assert_eq!(registry.resolve_network("56").map(|c| c.chain_id), Some(ChainId(56)));
        assert_eq!(bsc.resolve_token("usdt").map(|t| t.decimals), Some(18));
        assert!(bsc.resolve_token("0x55d398326f99059ff775485246999027b3197955").is_some());
        assert!(bsc.resolve_token("USDC").is_none());
        assert!(registry.resolve_network("1").is_none());
    }

    #[test]
    fn debug_of_a_chain_prints_no_rpc_key() {
        let keyed = CHAINS.replace(
            "\"rpcUrl\":\"https://bsc-dataseed.binance.org/\"",
            "\"rpcUrl\":\"https://bsc.example/v2/KEYINPATH\",\"rpcUrls\":[\"https://u:KEYINUSERINFO@b.example/\"],\
             \"wsUrl\":\"wss://ws.example/ws/KEYINWS\",\"publicRpcUrl\":\"https://p.example/?apikey=KEYINQUERY\"",
        );
        let registry = Registry::from_json(&keyed, TOKENS).expect("valid registry");
        let chain = registry.chains().first().cloned().expect("one chain");
        let source = RegistrySource {
            chains: "chains.json".into(),
            tokens: "tokens.json".into(),
            rpc_overrides: HashMap::from([(
                ChainId(56),
                "https://o.example/KEYINOVERRIDE,https://o2.example/".to_owned(),
            )]),
        };
        let printed = [
            format!("{chain:?}"),
            format!("{chain:#?}"),
            format!("{registry:?}"),
            format!("{registry:#?}"),
            format!("{:?}", SharedRegistry::new(registry.clone())),
            format!("{source:?}"),
            format!("{source:#?}"),
        ];
        for printed in printed {
            for key in ["KEYINPATH", "KEYINUSERINFO", "KEYINWS", "KEYINQUERY", "KEYINOVERRIDE"] {
                assert!(!printed.contains(key), "`{key}` printed: {printed}");
            }
        }
        let printed = format!("{chain:?}");
        assert!(printed.contains("https://bsc.example/…") && printed.contains("wss://ws.example/…"), "{printed}");
        assert!(format!("{source:?}").contains("https://o2.example"), "{source:?}");
    }

    #[test]
    fn refuses_bad_files_with_the_reason() {
        let err = |chains: &str, tokens: &str| Registry::from_json(chains, tokens).err().map(|e| e.to_string());
        assert!(err(CHAINS, r#"{"1":[]}"#).is_some_and(|e| e.contains("unknown chain 1")));
        let dup = r#"{"56":[{"address":"0x55d398326f99059ff775485246999027b3197955","symbol":"USDT","decimals":18,"name":"a"},
                             {"address":"0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d","symbol":"usdt","decimals":18,"name":"b"}]}"#;
        assert!(err(CHAINS, dup).is_some_and(|e| e.contains("duplicate symbol")));
        let bad_sum = TOKENS.replace("0x55d398326f99059fF7", "0x55D398326f99059fF7");
        assert!(err(CHAINS, &bad_sum).is_some_and(|e| e.contains("checksum")));
        let short = TOKENS.replace("0x55d398326f99059fF775485246999027B3197955", "0x1234");
        assert!(err(CHAINS, &short).is_some());
        let below_floor = CHAINS.replace("\"confirmationThreshold\":200", "\"confirmationThreshold\":3");
        assert!(err(&below_floor, TOKENS).is_some_and(|e| e.contains("below confirmationFloor")));
        let twice = format!("[{},{}]", &CHAINS[1..CHAINS.len() - 1], &CHAINS[1..CHAINS.len() - 1]);
        assert!(err(&twice, TOKENS).is_some_and(|e| e.contains("appears twice")));
        let unknown_field = CHAINS.replace("\"name\":\"BNB Smart Chain\"", "\"nmae\":\"x\",\"name\":\"y\"");
        assert!(err(&unknown_field, TOKENS).is_some());
        let ws = |url: &str| CHAINS.replace("\"proxyAddress\"", &format!("\"wsUrl\":\"{url}\",\"proxyAddress\""));
        assert!(err(&ws("https://bsc-ws.example"), TOKENS).is_some_and(|e| e.contains("wsUrl") && e.contains("ws(s)")));
        assert!(err(&ws("wss://bsc-ws.example/key"), TOKENS).is_none());
    }
}
