//! Endpoint names fit to show: RPC and webhook URLs often carry a provider's API key in their
//! path, query or userinfo, and transport errors quote the URL they failed on. Everything that
//! leaves the process or is logged names an endpoint by its redacted label only.

use std::borrow::Cow;

use url::Url;

/// A URL as shown to anyone: scheme, host and port only, with `/…` where anything else was.
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = Url::parse(url.trim()) else {
        return "…".to_owned();
    };
    let Some(host) = parsed.host_str() else {
        return format!("{}://…", parsed.scheme());
    };
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let more = !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.path() != "/"
        || parsed.query().is_some()
        || parsed.fragment().is_some();
    if more {
        format!("{}://{host}/…", parsed.scheme())
    } else {
        format!("{}://{host}", parsed.scheme())
    }
}

/// Debug output of endpoint URLs: each as its [`redact_url`] label, so that a `{:?}` of a
/// configuration or a registry entry can be logged or panic without its API keys.
pub struct RedactedUrls<'a>(pub &'a [String]);

impl std::fmt::Debug for RedactedUrls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|url| redact_url(url))).finish()
    }
}

/// Debug output of one URL as its [`redact_url`] label.
pub struct RedactedUrl<'a>(pub &'a str);

impl std::fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&redact_url(self.0), f)
    }
}

/// Debug output of a comma-separated list of URLs (a `PAYSCAN_RPC_<chainId>` value), each redacted.
pub struct RedactedUrlList<'a>(pub &'a str);

impl std::fmt::Debug for RedactedUrlList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.split(',').map(redact_url)).finish()
    }
}

/// Debug output of `PAYSCAN_RPC_<chainId>` overrides, their URLs redacted, in chain order.
pub struct RedactedOverrides<'a>(pub &'a std::collections::HashMap<crate::ChainId, String>);

impl std::fmt::Debug for RedactedOverrides<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sorted: Vec<_> = self.0.iter().collect();
        sorted.sort_by_key(|(id, _)| **id);
        f.debug_map().entries(sorted.into_iter().map(|(id, urls)| (id, RedactedUrlList(urls)))).finish()
    }
}

/// Free text (an error message, a log line) with every URL in it redacted.
pub fn scrub_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters, digits, `+`, `-` and `.` just before `://`.
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(at, |(i, _)| i);
        // The URL runs to the first character no URL in a message contains unescaped.
        let end = rest[at + 3..]
            .find(|c: char| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(c, '"' | '\'' | '`' | '<' | '>' | '(' | ')' | '{' | '}' | '|' | '^' | '\\')
            })
            .map_or(rest.len(), |i| at + 3 + i);
        out.push_str(&rest[..scheme_start]);
        if scheme_start == at {
            // No scheme: hide what follows anyway, it may be a URL's secret part.
            out.push_str("://…");
        } else {
            let url = rest[scheme_start..end].trim_end_matches(['.', ',', ';', ':']);
            out.push_str(&redact_url(url));
            out.push_str(&rest[scheme_start + url.len()..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_what_may_hold_a_key() {
        assert_eq!(redact_url("https://eth-mainnet.g.alchemy.com/v2/SECRETKEY"), "https://eth-mainnet.g.alchemy.com/…");
        assert_eq!(redact_url("https://user:pass@node.example/"), "https://node.example/…");
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(redact_url("http://127.0.0.1:8545/"), "http://127.0.0.1:8545");
        assert_eq!(redact_url("https://rpc.example?apikey=SECRET"), "https://rpc.example/…");
        assert_eq!(redact_url("wss://ws.example/ws/KEY"), "wss://ws.example/…");
        // A password containing `/` once ended the host early and showed the rest.
        let slashed = redact_url("https://user:pa/ss@node.example/x");
        assert!(!slashed.contains("pa") && !slashed.contains("ss") && !slashed.contains('x'), "{slashed}");
        assert_eq!(redact_url("not a url SECRET"), "…");
    }

    #[test]
    fn scrubs_every_url_in_free_text() {
        let error = "error sending request for url (http://127.0.0.1:9/v2/SECRETKEY?apikey=SECRET2): refused";
        assert_eq!(scrub_urls(error), "error sending request for url (http://127.0.0.1:9/…): refused");
        let two = "a http://h.example/K1 then \"wss://u:p@w.example/K2\".";
        let scrubbed = scrub_urls(two);
        assert_eq!(scrubbed, "a http://h.example/… then \"wss://w.example/…\".");
        assert!(!scrubbed.contains("K1") && !scrubbed.contains("K2"));
        assert_eq!(scrub_urls("no url here"), "no url here");
        // A span's fields around a URL stay readable.
        assert_eq!(
            scrub_urls("Transport{url=http://h.example/v2/KEY}:request{method_names=eth_call}: sent"),
            "Transport{url=http://h.example/…}:request{method_names=eth_call}: sent"
        );
        assert_eq!(scrub_urls("odd ://SECRET"), "odd ://…");
        assert!(!scrub_urls("url=http://user:pa/ss@node.example/KEY end").contains("KEY"));
    }
}
