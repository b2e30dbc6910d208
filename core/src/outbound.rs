//! The outbound policy: every request payscan sends to a configured target goes through one
//! [`OutboundClient`], which never follows a redirect, bounds each request by a timeout, reads at
//! most [`ANSWER_CAP`] bytes of an answer, and refuses loopback, link-local (the cloud metadata
//! address among them), private and unspecified addresses unless an allow-list names them. The
//! address is checked where the URL names an IP and again on the address each name resolves to,
//! when the connection is made, so a name that later resolves elsewhere (DNS rebinding) is
//! refused too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use reqwest::{Response, Url};

/// How much of an answer's body is read; the rest is never received.
pub const ANSWER_CAP: usize = 4 * 1024;

/// Why an outbound request was refused before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("`{0}` is not an http(s) URL with a host")]
    BadUrl(String),
    #[error("{ip} is a {class} address; list it in {setting} to allow it")]
    Refused { ip: IpAddr, class: &'static str, setting: &'static str },
    #[error("{0} resolves to no address")]
    Unresolved(String),
}

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    allow: Arc<[IpNet]>,
    /// The setting that extends the allow-list, named in refusals.
    setting: &'static str,
}

impl OutboundPolicy {
    /// Public addresses only, plus the networks in `allow`; `setting` is where an operator adds one.
    pub fn new(allow: Vec<IpNet>, setting: &'static str) -> Self {
        Self { allow: Arc::from(allow), setting }
    }

    /// Every address: for payscan's own receiver, whose address payscan chose itself.
    pub fn unrestricted() -> Self {
        Self::new(vec![IpNet::V4(Default::default()), IpNet::V6(Default::default())], "")
    }

    /// Refuses a restricted address that no allowed network contains.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), OutboundError> {
        let ip = ip.to_canonical();
        match restricted(ip) {
            Some(class) if !self.allow.iter().any(|net| net.contains(&ip)) => {
                Err(OutboundError::Refused { ip, class, setting: self.setting })
            }
            _ => Ok(()),
        }
    }

    /// Checks what a URL itself says: an http(s) scheme, and a host that is an allowed IP or a
    /// name. `localhost` names are loopback by definition (RFC 6761) and checked as 127.0.0.1;
    /// other names are checked on the addresses they resolve to, at each connection.
    pub fn check_url(&self, url: &str) -> Result<Url, OutboundError> {
        let bad = || OutboundError::BadUrl(url.to_owned());
        let parsed = Url::parse(url).map_err(|_| bad())?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad());
        }
        match parsed.host().ok_or_else(bad)? {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip))?,
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
                }
            }
        }
        Ok(parsed)
    }
}

/// The class of an address outbound requests may not reach by default, if it is one.
pub fn restricted(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
                Some("private")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("multicast")
            } else if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) || s[..6] == [0; 6] {
                // NAT64 (64:ff9b::/96) and IPv4-compatible addresses reach the IPv4 inside.
                let [.., a, b, c, d] = v6.octets();
                restricted_v4(Ipv4Addr::new(a, b, c, d))
            } else {
                None
            }
        }
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_private() || (a == 100 && b & 0xc0 == 64) {
        // 100.64.0.0/10 is carrier-grade NAT space: private to the provider's network.
        Some("private")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// Parses a comma-separated allow-list of networks (`127.0.0.0/8`, `::1/128`) or single
/// addresses (`10.1.2.3`).
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a network (a.b.c.d/n) or an address"))
        })
        .collect()
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows, so
/// the connection is made to the very address that was checked.
struct PolicyResolver {
    policy: OutboundPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refusal = Some(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let error = refusal.unwrap_or(OutboundError::Unresolved(host));
                return Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client held to an [`OutboundPolicy`].
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: OutboundPolicy,
}

impl OutboundClient {
    /// A client whose every request ends within `timeout`.
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve and connect on payscan's behalf, out of the resolver's sight.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(PolicyResolver { policy: policy.clone() })
            .user_agent(concat!("payscan/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, policy })
    }

    /// A POST to `url`, once its host has passed the policy.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        Ok(self.http.post(self.policy.check_url(url)?))
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }
}

/// The first [`ANSWER_CAP`] bytes of an answer's body; the rest is left unread.
pub async fn read_capped(response: &mut Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while body.len() < ANSWER_CAP {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(ANSWER_CAP - body.len())]),
            None => break,
        }
    }
    Ok(body)
}

/// The wait a `Retry-After` header asks for (delay-seconds or an HTTP date), from `now`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(at.timestamp()).ok()?))?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &str) -> OutboundPolicy {
        OutboundPolicy::new(parse_networks(allow).expect("networks"), "PAYSCAN_WEBHOOK_ALLOW_NETWORKS")
    }

    #[test]
    fn refuses_internal_addresses_unless_allowed() {
        let strict = policy("");
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(matches!(strict.check_ip(ip), Err(OutboundError::Refused { .. })), "{ip} passed");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert_eq!(strict.check_ip(ip.parse().expect("ip")), Ok(()), "{ip} refused");
        }
        let loopback = policy("127.0.0.0/8, ::1");
        assert_eq!(loopback.check_ip("127.0.0.1".parse().expect("ip")), Ok(()));
        assert_eq!(loopback.check_ip("::ffff:127.0.0.1".parse().expect("ip")), Ok(()));
        assert_eq!(loopback.check_ip("::1".parse().expect("ip")), Ok(()));
        assert!(loopback.check_ip("169.254.169.254".parse().expect("ip")).is_err());
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("localhost").is_err());
    }

    #[test]
    fn checks_what_a_url_names() {
        let strict = policy("");
        assert!(strict.check_url("https://hooks.example.com/in").is_ok());
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:9000/",
            "http://api.localhost./",
            "http://0.0.0.0/",
        ] {
            assert!(matches!(strict.check_url(url), Err(OutboundError::Refused { .. })), "{url} passed");
        }
        assert!(matches!(strict.check_url("ftp://example.com/"), Err(OutboundError::BadUrl(_))));
        assert!(matches!(strict.check_url("not a url"), Err(OutboundError::BadUrl(_))));
        assert!(policy("127.0.0.1").check_url("http://localhost:9000/").is_ok());
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(reqwest::header::RETRY_AFTER, "120".parse().expect("value"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:29:00 GMT".parse().expect("value"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().expect("value"));
        assert_eq!(retry_after(&headers, now), None);
    }

    /// A name is checked on the address it resolves to when the connection is made: `localhost`
    /// passes the URL check when loopback is allowed, and is refused at connect time when not.
    #[tokio::test]
    async fn refuses_a_resolved_address_at_connect_time() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
                    let _ = socket.read(&mut buf).await;
                });
            }
        });
        let plain = format!("http://localhost:{port}/hook");

        let strict = OutboundClient::new(policy(""), Duration::from_secs(5)).expect("client");
        // Past the URL check (which would refuse `localhost` outright), straight to the connector.
        let error = strict.http.post(&plain).send().await.expect_err("loopback refused at connect");
        let chain = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("loopback"), "{chain}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0, "a connection was made");

        let allowed = OutboundClient::new(policy("127.0.0.0/8,::1"), Duration::from_secs(5)).expect("client");
        let mut response = allowed.post(&plain).expect("allowed").send().await.expect("sent");
        assert_eq!(read_capped(&mut response).await.expect("body"), b"ok");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
