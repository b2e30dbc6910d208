//! Which rails a checkout offers: the seed's precedence of a template that opts out of its store's
//! default, then the store default, then everything the registry supports.

use serde::Serialize;

use crate::registry::{Chain, Registry, Token};
use crate::store::rails::RailConfig;

/// Where the allowed rails came from, as the seed names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RailSource {
    /// The template's own configuration.
    Item,
    Store,
    Default,
}

/// The chains and tokens a checkout may use, in registry order.
#[derive(Debug, Clone)]
pub struct AllowedRails<'a> {
    pub source: RailSource,
    pub chains: Vec<(&'a Chain, Vec<&'a Token>)>,
}

impl AllowedRails<'_> {
    pub fn allows(&self, chain: &Chain, token: &Token) -> bool {
        self.chains
            .iter()
            .any(|(c, tokens)| c.chain_id == chain.chain_id && tokens.iter().any(|t| t.address == token.address))
    }
}

/// The rails for a template (if it opts out of the store default) or else the store, or else
/// the registry's. Configured chains or tokens the registry no longer has are left out.
pub fn resolve<'a>(
    registry: &'a Registry,
    store: Option<&RailConfig>,
    template: Option<&RailConfig>,
) -> AllowedRails<'a> {
    let (source, config) = match (template.filter(|t| !t.use_shop_default), store) {
        (Some(template), _) => (RailSource::Item, Some(template)),
        (None, Some(store)) => (RailSource::Store, Some(store)),
        (None, None) => (RailSource::Default, None),
    };
    let chains = registry
        .chains()
        .iter()
        .filter(|c| config.is_none_or(|cfg| cfg.allowed_chains.is_empty() || cfg.allowed_chains.contains(&c.chain_id)))
        .map(|c| {
            let tokens = c
                .tokens
                .iter()
                .filter(|t| {
                    config.is_none_or(|cfg| {
                        cfg.allowed_tokens.is_empty()
                            || cfg.allowed_tokens.iter().any(|s| s.eq_ignore_ascii_case(&t.symbol))
                    })
                })
                .collect::<Vec<_>>();
            (c, tokens)
        })
        .filter(|(_, tokens)| !tokens.is_empty())
        .collect();
    AllowedRails { source, chains }
}
