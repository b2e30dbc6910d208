//! Where a setting's text comes from: the environment first, then `payscan.toml`, then the
//! setting's default.

use std::collections::HashMap;

use super::settings::SETTINGS;
use super::ConfigError;

/// The process environment and the text of `payscan.toml` (or the file `PAYSCAN_CONFIG` names).
pub(super) fn process_sources() -> Result<(HashMap<String, String>, Option<String>), ConfigError> {
    let explicit = std::env::var("PAYSCAN_CONFIG").ok();
    let path = explicit.clone().unwrap_or_else(|| "payscan.toml".to_owned());
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ConfigError::new("PAYSCAN_CONFIG", format!("cannot read {path}: {e}"))),
    };
    Ok((std::env::vars().collect(), file))
}

pub(super) struct Sources<'a> {
    pub(super) env: &'a HashMap<String, String>,
    pub(super) file: toml::Table,
}

impl Sources<'_> {
    /// The raw text of a setting: environment first, then the file, then the default.
    pub(super) fn get(&self, env_name: &str) -> Result<Option<String>, ConfigError> {
        let (_, key, default, _) = SETTINGS
            .iter()
            .find(|(env, ..)| *env == env_name)
            .ok_or_else(|| ConfigError::new(env_name, "unknown setting"))?;
        if let Some(value) = self.env.get(env_name).cloned().filter(|v| !v.trim().is_empty()) {
            return Ok(Some(value));
        }
        if let Some(value) = self.file.get(*key) {
            return toml_text(value)
                .map(Some)
                .map_err(|reason| ConfigError::new(format!("payscan.toml {key}"), reason));
        }
        Ok((!default.is_empty()).then(|| (*default).to_owned()))
    }

    pub(super) fn required(&self, env_name: &str) -> Result<String, ConfigError> {
        self.get(env_name)?
            .ok_or_else(|| ConfigError::new(env_name, "missing (set it in the environment or in payscan.toml)"))
    }

    /// A setting that may be unset (no default), parsed when set.
    pub(super) fn optional<T>(
        &self,
        env_name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.get(env_name)? else { return Ok(None) };
        parse(text.trim()).map(Some).map_err(|reason| ConfigError::new(env_name, reason))
    }

    pub(super) fn parsed<T>(
        &self,
        env_name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let text = self.required(env_name)?;
        parse(text.trim()).map_err(|reason| ConfigError::new(env_name, reason))
    }
}

/// A syntax error in payscan.toml, by line and reason only: the offending line is never quoted,
/// since it may hold the mnemonic or a key.
pub(super) fn toml_error(error: &toml::de::Error, text: &str) -> ConfigError {
    let line = error.span().and_then(|span| text.get(..span.start)).map(|before| before.matches('\n').count() + 1);
    // The message names what was expected, never the text found.
    let reason = error.message().lines().next().unwrap_or("invalid TOML").to_owned();
    match line {
        Some(line) => ConfigError::new("payscan.toml", format!("line {line}: {reason}")),
        None => ConfigError::new("payscan.toml", reason),
    }
}

fn toml_text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| "expected a list of strings".to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        _ => Err("expected a string, number, boolean or list of strings".to_owned()),
    }
}
