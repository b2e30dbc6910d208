//! Configuration: each setting from its environment variable, else from `payscan.toml`, else its
//! default; validated once at start-up. A bad or missing setting is one error naming it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use secrecy::SecretString;

use crate::outbound::{self, OutboundPolicy};
use crate::quote::QuoteSettings;
use crate::redact::{RedactedOverrides, RedactedUrls};
use crate::webhook::WebhookSecret;
use crate::{BaseUnits, ChainId};

mod parse;
mod settings;
mod sources;
#[cfg(test)]
mod tests;

use parse::{parse_bool, parse_bps, parse_minimums, parse_targets, parse_url};
pub use parse::{parse_duration, parse_schedule};

pub use settings::SETTINGS;
use sources::{process_sources, toml_error, Sources};

/// Which keys destinations are derived from.
#[derive(Clone)]
pub struct KeySource {
    /// Account-level extended public key of m/44'/60'/0'.
    pub xpub: Option<String>,
    /// Mnemonic; the xpub is derived from it when `xpub` is unset.
    pub mnemonic: Option<SecretString>,
    /// Account-level extended private key of m/44'/60'/0', instead of a mnemonic.
    pub xprv: Option<SecretString>,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySource")
            .field("xpub", &self.xpub)
            .field("mnemonic", &self.mnemonic.as_ref().map(|_| "[REDACTED]"))
            .field("xprv", &self.xprv.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Webhook delivery settings. Target URLs may carry a token: Debug shows their labels.
#[derive(Clone)]
pub struct WebhookConfig {
    pub secret: WebhookSecret,
    pub targets: Vec<String>,
    pub self_target: bool,
    pub retry: Vec<Duration>,
    pub timeout: Duration,
    /// Restricted networks targets may reach nonetheless.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// Deliveries in flight to one target at a time.
    pub concurrency: usize,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &self.secret)
            .field("targets", &RedactedUrls(&self.targets))
            .field("self_target", &self.self_target)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("allow_networks", &self.allow_networks)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl WebhookConfig {
    /// The outbound policy webhook targets are held to.
    pub fn policy(&self) -> OutboundPolicy {
        OutboundPolicy::new(self.allow_networks.clone(), ALLOW_NETWORKS)
    }
}

const ALLOW_NETWORKS: &str = "PAYSCAN_WEBHOOK_ALLOW_NETWORKS";

/// Chain follower settings.
#[derive(Debug, Clone)]
pub struct ScannerConfig {
    pub poll_interval: Duration,
    pub max_block_range: u64,
    pub max_reorg_depth: u64,
    pub rpc_timeout: Duration,
    pub rpc_max_answer_bytes: usize,
}

/// A budget of `count` requests per `period`, refilled evenly, all of it usable at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period: Duration,
}

impl RateLimit {
    /// `30/m`, `5/10s`, `1000/h`; `off` is no limit.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("`{s}` is not count/period such as 30/m, or off");
        let (count, period) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let period = period.trim();
        // `30/m` reads as one minute: a period without a number is one of its unit.
        let period =
            if period.starts_with(|c: char| c.is_ascii_digit()) { period.to_owned() } else { format!("1{period}") };
        let period = parse_duration(&period).map_err(|_| bad())?;
        if period.is_zero() {
            return Err(bad());
        }
        Ok(Some(Self { count, period }))
    }
}

/// Per-caller limits on the routes a buyer could use to exhaust payscan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Each intent can hold a fresh derived address in the watch set.
    pub intents: Option<RateLimit>,
    /// Each relayed permit costs the relayer gas.
    pub permits: Option<RateLimit>,
}

/// What a `payscan serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API only.
    Api,
    /// Followers, webhook dispatch, payouts and sweeps; HTTP serves health and metrics only.
    Scanner,
    All,
}

impl Role {
    pub fn serves_api(self) -> bool {
        matches!(self, Self::Api | Self::All)
    }

    pub fn scans(self) -> bool {
        matches!(self, Self::Scanner | Self::All)
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "api" => Ok(Self::Api),
            "scanner" => Ok(Self::Scanner),
            "all" => Ok(Self::All),
            other => Err(format!("`{other}` is not api, scanner or all")),
        }
    }
}

/// How custody transactions are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// payscan signs with keys derived from the mnemonic and broadcasts.
    Local,
    /// payscan returns unsigned transactions and typed data for an external signer.
    BuildOnly,
}

impl SignerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::BuildOnly => "build-only",
        }
    }
}

/// Custody settings. Keys are secrets: held zeroizing, never printed.
#[derive(Clone)]
pub struct CustodyConfig {
    pub signer: SignerKind,
    pub sweep_interval: Duration,
    pub sweep_cron: bool,
    pub master_wallet: Option<Address>,
    pub relayer_key: Option<SecretString>,
    pub payout_key: Option<SecretString>,
    pub payout_retry: Vec<Duration>,
    /// (token symbol, minimum in token units), the symbol upper-cased.
    pub payout_minimums: Vec<(String, String)>,
    /// Wei per gas.
    pub max_fee_per_gas: u128,
    pub replace_after: Duration,
    /// Wei; `None`: no limit.
    pub sweep_max_gas_cost: Option<U256>,
}

impl fmt::Debug for CustodyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |k: &Option<SecretString>| k.as_ref().map(|_| "[REDACTED]");
        f.debug_struct("CustodyConfig")
            .field("signer", &self.signer)
            .field("sweep_interval", &self.sweep_interval)
            .field("sweep_cron", &self.sweep_cron)
            .field("master_wallet", &self.master_wallet)
            .field("relayer_key", &redacted(&self.relayer_key))
            .field("payout_key", &redacted(&self.payout_key))
            .field("payout_retry", &self.payout_retry)
            .field("payout_minimums", &self.payout_minimums)
            .field("max_fee_per_gas", &self.max_fee_per_gas)
            .field("replace_after", &self.replace_after)
            .field("sweep_max_gas_cost", &self.sweep_max_gas_cost)
            .finish()
    }
}

/// The network and token of an intent that names neither: settings, not the registry's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentDefaults {
    /// A chain's short name or id; it need not be in the registry (then such an intent is refused).
    pub network: String,
    pub token: String,
}

/// Where payscan is reached, and where a checkout sends the buyer afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// payscan's own base URL, without a trailing slash.
    pub public_url: Option<String>,
    pub redirect_success: Option<String>,
    pub redirect_cancel: Option<String>,
}

impl Links {
    /// `path` on payscan: absolute with a public URL, else the path itself.
    pub fn to(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_deref().unwrap_or_default())
    }
}

/// The validated configuration. Debug prints no secret: keys as `[REDACTED]`, URLs as their
/// labels (an RPC URL's path, query or userinfo often holds a provider's API key).
#[derive(Clone)]
pub struct Config {
    pub database_url: SecretString,
    pub listen: SocketAddr,
    pub chains_path: PathBuf,
    pub tokens_path: PathBuf,
    pub rpc_overrides: HashMap<ChainId, String>,
    pub keys: KeySource,
    pub jwt_secret: SecretString,
    pub webhook: WebhookConfig,
    pub scanner: ScannerConfig,
    pub payment_ttl: Duration,
    /// The rail of an intent that names none.
    pub intent_defaults: IntentDefaults,
    pub links: Links,
    /// How often the expiry task runs.
    pub expiry_interval: Duration,
    /// How long a cancelled or failed payment's address stays watched.
    pub watch_window: Duration,
    pub rn_payee: Option<Address>,
    pub role: Role,
    pub lease_ttl: Duration,
    pub quotes: QuoteSettings,
    pub custody: CustodyConfig,
    pub rate_limits: RateLimits,
    pub sse_max_streams: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("listen", &self.listen)
            .field("chains_path", &self.chains_path)
            .field("tokens_path", &self.tokens_path)
            .field("rpc_overrides", &RedactedOverrides(&self.rpc_overrides))
            .field("keys", &self.keys)
            .field("jwt_secret", &self.jwt_secret)
            .field("webhook", &self.webhook)
            .field("scanner", &self.scanner)
            .field("payment_ttl", &self.payment_ttl)
            .field("intent_defaults", &self.intent_defaults)
            .field("links", &self.links)
            .field("expiry_interval", &self.expiry_interval)
            .field("watch_window", &self.watch_window)
            .field("rn_payee", &self.rn_payee)
            .field("role", &self.role)
            .field("lease_ttl", &self.lease_ttl)
            .field("quotes", &self.quotes)
            .field("custody", &self.custody)
            .field("rate_limits", &self.rate_limits)
            .field("sse_max_streams", &self.sse_max_streams)
            .finish()
    }
}

/// A setting that stopped start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { setting: setting.into(), reason: reason.into() }
    }
}

impl Config {
    /// Reads the process environment and `payscan.toml` (or the file `PAYSCAN_CONFIG` names).
    pub fn load() -> Result<Self, ConfigError> {
        let (vars, file) = process_sources()?;
        Self::from_sources(&vars, file.as_deref())
    }

    /// One setting as [`Config::load`] reads it (environment, then the file, then its default),
    /// for operator commands that need a few settings, not a whole daemon's.
    pub fn setting(name: &str) -> Result<Option<String>, ConfigError> {
        let (vars, file) = process_sources()?;
        let file: toml::Table = match file {
            Some(text) => text.parse().map_err(|e| toml_error(&e, &text))?,
            None => toml::Table::new(),
        };
        Sources { env: &vars, file }.get(name)
    }

    /// Builds the configuration from an environment lookup and the text of `payscan.toml`.
    pub fn from_sources(env: &HashMap<String, String>, file: Option<&str>) -> Result<Self, ConfigError> {
        let file: toml::Table = match file {
            Some(text) => text.parse().map_err(|e| toml_error(&e, text))?,
            None => toml::Table::new(),
        };
        let known: Vec<&str> = SETTINGS.iter().map(|(_, key, ..)| *key).collect();
        if let Some(key) = file.keys().find(|k| *k != "rpc" && !known.contains(&k.as_str())) {
            return Err(ConfigError::new(format!("payscan.toml {key}"), "unknown setting"));
        }
        let rpc_overrides = rpc_overrides(env, &file)?;
        let sources = Sources { env, file };

        let database_url = sources.required("DATABASE_URL")?;
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| database_url.starts_with(p)) {
            return Err(ConfigError::new("DATABASE_URL", "expected sqlite://<file> or postgres://…"));
        }
        let keys = KeySource {
            xpub: sources.get("PAYSCAN_XPUB")?.map(|x| x.trim().to_owned()),
            mnemonic: sources.get("PAYSCAN_MNEMONIC")?.map(|m| SecretString::from(m.trim().to_owned())),
            xprv: sources.get("PAYSCAN_XPRV")?.map(|k| SecretString::from(k.trim().to_owned())),
        };
        if keys.xpub.is_none() && keys.mnemonic.is_none() && keys.xprv.is_none() {
            return Err(ConfigError::new(
                "PAYSCAN_XPUB",
                "missing: set PAYSCAN_XPUB, PAYSCAN_MNEMONIC or PAYSCAN_XPRV",
            ));
        }
        if keys.mnemonic.is_some() && keys.xprv.is_some() {
            return Err(ConfigError::new("PAYSCAN_XPRV", "set PAYSCAN_MNEMONIC or PAYSCAN_XPRV, not both"));
        }
        let jwt_secret = sources.required("PAYSCAN_JWT_SECRET")?;
        if jwt_secret.len() < 32 {
            return Err(ConfigError::new("PAYSCAN_JWT_SECRET", "must be at least 32 bytes"));
        }
        let webhook_secret =
            sources.parsed("PAYSCAN_WEBHOOK_SECRET", |s| WebhookSecret::parse(s).map_err(|e| e.to_string()))?;
        let targets = sources
            .get("PAYSCAN_WEBHOOK_TARGETS")?
            .map(|list| parse_targets(&list))
            .transpose()
            .map_err(|reason| ConfigError::new("PAYSCAN_WEBHOOK_TARGETS", reason))?
            .unwrap_or_default();
        let allow_networks = match sources.get(ALLOW_NETWORKS)? {
            Some(list) => outbound::parse_networks(&list).map_err(|reason| ConfigError::new(ALLOW_NETWORKS, reason))?,
            None => Vec::new(),
        };
        let policy = OutboundPolicy::new(allow_networks.clone(), ALLOW_NETWORKS);
        if let Some(refused) = targets.iter().find_map(|t| policy.check_url(t).err()) {
            return Err(ConfigError::new("PAYSCAN_WEBHOOK_TARGETS", refused.to_string()));
        }

        let signer = sources.parsed("PAYSCAN_SIGNER", |s| match s {
            "local" => Ok(SignerKind::Local),
            "build-only" => Ok(SignerKind::BuildOnly),
            other => Err(format!("`{other}` is not local or build-only")),
        })?;
        if signer == SignerKind::Local && keys.mnemonic.is_none() && keys.xprv.is_none() {
            return Err(ConfigError::new(
                "PAYSCAN_SIGNER",
                "local needs PAYSCAN_MNEMONIC or PAYSCAN_XPRV (the keys it signs with)",
            ));
        }
        let master_wallet = sources
            .get("PAYSCAN_MASTER_WALLET")?
            .map(|a| crate::registry::parse_address(a.trim()))
            .transpose()
            .map_err(|reason| ConfigError::new("PAYSCAN_MASTER_WALLET", reason))?;
        let secret = |name: &str| -> Result<Option<SecretString>, ConfigError> {
            Ok(sources.get(name)?.map(|k| SecretString::from(k.trim().to_owned())))
        };
        let relayer_key = secret("PAYSCAN_RELAYER_KEY")?;
        let custody = CustodyConfig {
            signer,
            sweep_interval: sources.parsed("PAYSCAN_SWEEP_INTERVAL", parse_duration)?,
            sweep_cron: sources.parsed("PAYSCAN_SWEEP_CRON", parse_bool)?,
            master_wallet,
            payout_key: secret("PAYSCAN_PAYOUT_KEY")?.or_else(|| relayer_key.clone()),
            relayer_key,
            payout_retry: sources.parsed("PAYSCAN_PAYOUT_RETRY", parse_schedule)?,
            payout_minimums: match sources.get("PAYSCAN_PAYOUT_MIN")? {
                Some(text) => parse_minimums(&text).map_err(|reason| ConfigError::new("PAYSCAN_PAYOUT_MIN", reason))?,
                None => Vec::new(),
            },
            max_fee_per_gas: sources.parsed("PAYSCAN_MAX_FEE_GWEI", |s| {
                let wei = BaseUnits::parse_token_units(s, 9).map_err(|e| format!("`{s}`: {e}"))?;
                u128::try_from(wei.0).map_err(|_| format!("`{s}` is too large"))
            })?,
            replace_after: sources.parsed("PAYSCAN_TX_REPLACE_AFTER", parse_duration)?,
            sweep_max_gas_cost: sources
                .get("PAYSCAN_SWEEP_MAX_GAS_COST")?
                .map(|s| BaseUnits::parse_token_units(&s, 18).map(|w| w.0).map_err(|e| format!("`{s}`: {e}")))
                .transpose()
                .map_err(|reason| ConfigError::new("PAYSCAN_SWEEP_MAX_GAS_COST", reason))?,
        };

        Ok(Self {
            database_url: SecretString::from(database_url),
            listen: sources.parsed("PAYSCAN_LISTEN", |s| s.parse().map_err(|_| format!("`{s}` is not host:port")))?,
            chains_path: sources.required("PAYSCAN_CHAINS")?.into(),
            tokens_path: sources.required("PAYSCAN_TOKENS")?.into(),
            rpc_overrides,
            keys,
            jwt_secret: SecretString::from(jwt_secret),
            webhook: WebhookConfig {
                secret: webhook_secret,
                targets,
                self_target: sources.parsed("PAYSCAN_SELF_WEBHOOK", parse_bool)?,
                retry: sources.parsed("PAYSCAN_WEBHOOK_RETRY", parse_schedule)?,
                timeout: sources.parsed("PAYSCAN_WEBHOOK_TIMEOUT", parse_duration)?,
                allow_networks,
                concurrency: sources.parsed("PAYSCAN_WEBHOOK_CONCURRENCY", |s| match s.parse::<usize>() {
                    Ok(n) if (1..=10_000).contains(&n) => Ok(n),
                    _ => Err("expected a count from 1 to 10000".to_owned()),
                })?,
            },
            scanner: ScannerConfig {
                poll_interval: sources.parsed("PAYSCAN_POLL_MS", |s| match s.parse::<u64>() {
                    Ok(ms) if ms >= 10 => Ok(Duration::from_millis(ms)),
                    _ => Err("expected milliseconds, at least 10".to_owned()),
                })?,
                max_block_range: sources.parsed("PAYSCAN_MAX_BLOCK_RANGE", |s| match s.parse::<u64>() {
                    Ok(n) if (1..=100_000).contains(&n) => Ok(n),
                    _ => Err("expected a block count from 1 to 100000".to_owned()),
                })?,
                rpc_timeout: sources.parsed("PAYSCAN_RPC_TIMEOUT", parse_duration)?,
                rpc_max_answer_bytes: sources.parsed("PAYSCAN_RPC_MAX_ANSWER_BYTES", |s| match s.parse::<usize>() {
                    Ok(n) if (1024..=1 << 30).contains(&n) => Ok(n),
                    _ => Err("expected a byte count from 1024 to 1073741824".to_owned()),
                })?,
                max_reorg_depth: sources.parsed("PAYSCAN_MAX_REORG_DEPTH", |s| match s.parse::<u64>() {
                    Ok(n) if (1..=10_000).contains(&n) => Ok(n),
                    _ => Err("expected a block count from 1 to 10000".to_owned()),
                })?,
            },
            payment_ttl: sources.parsed("PAYSCAN_PAYMENT_TTL", parse_duration)?,
            links: Links {
                public_url: sources.optional("PAYSCAN_PUBLIC_URL", parse_url)?,
                redirect_success: sources.optional("PAYSCAN_REDIRECT_SUCCESS", parse_url)?,
                redirect_cancel: sources.optional("PAYSCAN_REDIRECT_CANCEL", parse_url)?,
            },
            intent_defaults: IntentDefaults {
                network: sources.required("PAYSCAN_DEFAULT_NETWORK")?.trim().to_owned(),
                token: sources.required("PAYSCAN_DEFAULT_TOKEN")?.trim().to_owned(),
            },
            expiry_interval: sources.parsed("PAYSCAN_EXPIRY_INTERVAL", |s| match parse_duration(s)? {
                d if d >= Duration::from_millis(10) => Ok(d),
                _ => Err("expected a duration of at least 10ms".to_owned()),
            })?,
            watch_window: sources.parsed("PAYSCAN_WATCH_WINDOW", parse_duration)?,
            role: sources.parsed("PAYSCAN_ROLE", str::parse)?,
            lease_ttl: sources.parsed("PAYSCAN_LEASE_TTL", parse_duration)?,
            quotes: QuoteSettings {
                enabled: sources.parsed("ORACLE_QUOTING_ENABLED", parse_bool)?,
                max_age: sources.parsed("PAYSCAN_ORACLE_MAX_AGE", parse_duration)?,
                hard_cap_bps: sources.parsed("PAYSCAN_DEPEG_HARD_CAP_BPS", parse_bps)?,
                rounding_bps: sources.parsed("PAYSCAN_QUOTE_ROUNDING_BPS", parse_bps)?,
                ttl: sources.parsed("PAYSCAN_QUOTE_TTL", parse_duration)?,
            },
            rn_payee: sources
                .get("PAYSCAN_RN_PAYEE")?
                .map(|a| crate::registry::parse_address(a.trim()))
                .transpose()
                .map_err(|reason| ConfigError::new("PAYSCAN_RN_PAYEE", reason))?,
            custody,
            rate_limits: RateLimits {
                intents: sources.parsed("PAYSCAN_RATE_LIMIT_INTENTS", RateLimit::parse)?,
                permits: sources.parsed("PAYSCAN_RATE_LIMIT_PERMITS", RateLimit::parse)?,
            },
            sse_max_streams: sources.parsed("PAYSCAN_SSE_MAX_STREAMS", |s| match s.parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
                _ => Err("expected a stream count from 1 to 1000000".to_owned()),
            })?,
        })
    }
}

fn rpc_overrides(env: &HashMap<String, String>, file: &toml::Table) -> Result<HashMap<ChainId, String>, ConfigError> {
    let mut overrides = HashMap::new();
    if let Some(table) = file.get("rpc") {
        let table = table
            .as_table()
            .ok_or_else(|| ConfigError::new("payscan.toml rpc", "expected a table of chainId = url"))?;
        for (key, url) in table {
            let id = key.parse().map_err(|_| ConfigError::new(format!("payscan.toml rpc.{key}"), "not a chain id"))?;
            let url =
                url.as_str().ok_or_else(|| ConfigError::new(format!("payscan.toml rpc.{key}"), "expected a URL"))?;
            overrides.insert(id, url.to_owned());
        }
    }
    let is_setting = |name: &str| SETTINGS.iter().any(|(env, ..)| *env == name);
    for (name, url) in env.iter().filter(|(name, _)| name.starts_with("PAYSCAN_RPC_") && !is_setting(name)) {
        let id = name["PAYSCAN_RPC_".len()..]
            .parse()
            .map_err(|_| ConfigError::new(name.clone(), "expected PAYSCAN_RPC_<chainId>"))?;
        overrides.insert(id, url.clone());
    }
    Ok(overrides)
}
