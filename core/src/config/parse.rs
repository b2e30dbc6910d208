//! The parsers of setting values; each refusal says what was expected.

use std::time::Duration;

use crate::BaseUnits;

pub(super) fn parse_targets(list: &str) -> Result<Vec<String>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.starts_with("http://") || t.starts_with("https://") {
                Ok(t.to_owned())
            } else {
                Err(format!("`{t}` is not an http(s) URL"))
            }
        })
        .collect()
}

/// One http(s) URL, without a trailing slash.
pub(super) fn parse_url(s: &str) -> Result<String, String> {
    match parse_targets(s)?.as_slice() {
        [url] => Ok(url.trim_end_matches('/').to_owned()),
        _ => Err(format!("`{s}` is not one http(s) URL")),
    }
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not true or false")),
    }
}

/// `500ms`, `30s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{s}` is not a duration such as 30s"))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("`{s}` is not a duration such as 30s (units ms, s, m, h)")),
    };
    ms.map(Duration::from_millis).ok_or_else(|| format!("`{s}` is too long"))
}

/// Basis points: 0 to 10000.
pub(super) fn parse_bps(s: &str) -> Result<u32, String> {
    s.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| format!("`{s}` is not 0-10000 basis points"))
}

/// `USDC=5,USDT=2.5`: a minimum in token units per token symbol.
pub(super) fn parse_minimums(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (symbol, amount) = part.split_once('=').ok_or_else(|| format!("`{part}` is not SYMBOL=amount"))?;
            let (symbol, amount) = (symbol.trim(), amount.trim());
            // 36 decimals: any token's precision is checked when a payout names it.
            BaseUnits::parse_token_units(amount, 36).map_err(|e| format!("`{part}`: {e}"))?;
            if symbol.is_empty() {
                return Err(format!("`{part}` names no token"));
            }
            Ok((symbol.to_ascii_uppercase(), amount.to_owned()))
        })
        .collect()
}

/// `30s,60s,120s`: the delays before each retry.
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    let schedule = s.split(',').map(parse_duration).collect::<Result<Vec<_>, _>>()?;
    if schedule.is_empty() || schedule.len() > 20 {
        return Err("expected 1 to 20 comma-separated durations".to_owned());
    }
    Ok(schedule)
}
