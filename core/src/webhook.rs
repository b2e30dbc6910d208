//! Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
//! keyed by the base64-decoded `whsec_` secret, so that any Standard Webhooks library verifies
//! what payscan sends, and payscan's receiver verifies what they send.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// The delivery target that stands for payscan's own receiver. It is resolved to the dispatching
/// instance's address when sent, so that a restart on another port, or another instance of a
/// cluster, still reaches a receiver that shares the database.
pub const SELF_TARGET: &str = "self";

/// How far a signature's timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;

const SECRET_PREFIX: &str = "whsec_";

/// The shortest signing key accepted, in bytes: the Standard Webhooks specification asks for
/// 24 to 64 random bytes.
pub const MIN_SECRET_BYTES: usize = 24;

/// A webhook signing key. Its bytes are zeroized on drop and never printed.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

/// Why a secret or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook secret must be `whsec_` followed by base64 of at least 24 bytes")]
    BadSecret,
    #[error("webhook secret is {0} bytes once decoded; at least {MIN_SECRET_BYTES} are needed")]
    ShortSecret(usize),
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} is malformed")]
    BadHeader(&'static str),
    #[error("signature timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    #[error("no signature matches")]
    BadSignature,
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let body = text.strip_prefix(SECRET_PREFIX).ok_or(WebhookError::BadSecret)?;
        let bytes = Zeroizing::new(BASE64.decode(body).map_err(|_| WebhookError::BadSecret)?);
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(WebhookError::ShortSecret(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A fresh random secret in `whsec_` form (for `payscan dev`).
    pub fn generate() -> String {
        let bytes: [u8; 32] = rand::random();
        format!("{SECRET_PREFIX}{}", BASE64.encode(bytes))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", BASE64.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }

    /// Checks one delivery's headers against its raw body, in constant time, within the tolerance
    /// around `now` (Unix seconds).
    pub fn verify(&self, headers: &SignedHeaders<'_>, body: &[u8], now: i64) -> Result<(), WebhookError> {
        let timestamp: i64 = headers.timestamp.trim().parse().map_err(|_| WebhookError::BadHeader(HEADER_TIMESTAMP))?;
        // `abs_diff` cannot overflow, whatever a sender puts in the header.
        if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
            return Err(WebhookError::Stale);
        }
        let matches = headers
            .signature
            .split(' ')
            .filter_map(|sig| sig.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, b64)| BASE64.decode(b64).ok())
            .any(|sig| self.mac(headers.id, timestamp, body).verify_slice(&sig).is_ok());
        if matches {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

/// The three Standard Webhooks headers of one delivery.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

impl<'a> SignedHeaders<'a> {
    /// The three headers of a request, each present and readable as text.
    pub fn from_headers(headers: &'a reqwest::header::HeaderMap) -> Result<Self, WebhookError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .ok_or(WebhookError::MissingHeader(name))?
                .to_str()
                .map_err(|_| WebhookError::BadHeader(name))
        };
        Ok(Self { id: get(HEADER_ID)?, timestamp: get(HEADER_TIMESTAMP)?, signature: get(HEADER_SIGNATURE)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_published_vector() {
        let secret = WebhookSecret::parse(SECRET).expect("valid secret");
        assert_eq!(secret.sign(ID, TS, BODY), SIGNATURE);
    }

    #[test]
    fn verifies_within_tolerance_only() {
        let secret = WebhookSecret::parse(SECRET).expect("valid secret");
        let ts = TS.to_string();
        let headers = SignedHeaders { id: ID, timestamp: &ts, signature: SIGNATURE };
        assert_eq!(secret.verify(&headers, BODY, TS + 10), Ok(()));
        assert_eq!(secret.verify(&headers, BODY, TS + TOLERANCE_SECS + 1), Err(WebhookError::Stale));
        assert_eq!(secret.verify(&headers, b"{}", TS), Err(WebhookError::BadSignature));
        let several = format!("v1,bm9wZQ== {SIGNATURE}");
        let headers = SignedHeaders { signature: &several, ..headers };
        assert_eq!(secret.verify(&headers, BODY, TS), Ok(()));
        let other_id = SignedHeaders { id: "msg_other", ..headers };
        assert_eq!(secret.verify(&other_id, BODY, TS), Err(WebhookError::BadSignature));
    }

    #[test]
    fn hostile_timestamps_are_stale_or_malformed() {
        let secret = WebhookSecret::parse(SECRET).expect("valid secret");
        for (timestamp, expected) in [
            (i64::MIN.to_string(), WebhookError::Stale),
            (i64::MAX.to_string(), WebhookError::Stale),
            ("-1".to_owned(), WebhookError::Stale),
            ("99999999999999999999".to_owned(), WebhookError::BadHeader(HEADER_TIMESTAMP)),
        ] {
            let headers = SignedHeaders { id: ID, timestamp: &timestamp, signature: SIGNATURE };
            assert_eq!(secret.verify(&headers, BODY, TS), Err(expected), "{timestamp}");
            // Any clock, any header: an answer, never an overflow.
            assert!(secret.verify(&headers, BODY, i64::MIN).is_err(), "{timestamp} at MIN");
            assert!(secret.verify(&headers, BODY, i64::MAX).is_err(), "{timestamp} at MAX");
        }
    }

    #[test]
    fn refuses_bad_secrets_and_never_prints_them() {
        assert_eq!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").err(), Some(WebhookError::BadSecret));
        assert_eq!(WebhookSecret::parse("whsec_!!!").err(), Some(WebhookError::BadSecret));
        assert_eq!(WebhookSecret::parse("whsec_c2hvcnQ=").err(), Some(WebhookError::ShortSecret(5)));
        let secret = WebhookSecret::parse(SECRET).expect("valid secret");
        assert!(!format!("{secret:?}").contains("MfKQ"));
        assert!(WebhookSecret::parse(&WebhookSecret::generate()).is_ok());
    }

    /// The Standard Webhooks reference libraries' own test cases, byte for byte: the vectors and
    /// the refusals of `libraries/javascript/src/webhook.test.ts`,
    /// `libraries/python/tests/test_webhooks.py` and `libraries/rust/src/lib.rs` in
    /// github.com/standard-webhooks/standard-webhooks.
    mod conformance {
        use super::super::*;
        use reqwest::header::{HeaderMap, HeaderValue};

        /// The JavaScript and Python libraries' vector.
        const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        const TS: i64 = 1614265330;
        const BODY: &[u8] = br#"{"test": 2432232314}"#;
        const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

        fn secret() -> WebhookSecret {
            WebhookSecret::parse(SECRET).expect("the reference secret")
        }

        fn verify_at(signature: &str, timestamp: i64, now: i64) -> Result<(), WebhookError> {
            let ts = timestamp.to_string();
            secret().verify(&SignedHeaders { id: ID, timestamp: &ts, signature }, BODY, now)
        }

        #[test]
        fn signs_the_reference_vectors() {
            assert_eq!(secret().sign(ID, TS, BODY), SIGNATURE);
            // The Rust library's vector.
            let rust = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("secret");
            assert_eq!(
                rust.sign(
                    "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                    1649367553,
                    br#"{"email":"test@example.com","username":"test_user"}"#
                ),
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
            );
            assert_eq!(verify_at(SIGNATURE, TS, TS), Ok(()));
        }

        #[test]
        fn refuses_timestamps_past_five_minutes_either_way() {
            for now in [TS - 300, TS + 300] {
                assert_eq!(verify_at(SIGNATURE, TS, now), Ok(()), "{} s off", now - TS);
            }
            for now in [TS - 301, TS + 301] {
                assert_eq!(verify_at(SIGNATURE, TS, now), Err(WebhookError::Stale), "{} s off", now - TS);
            }
            let ts = "hello";
            let headers = SignedHeaders { id: ID, timestamp: ts, signature: SIGNATURE };
            assert_eq!(secret().verify(&headers, BODY, TS), Err(WebhookError::BadHeader(HEADER_TIMESTAMP)));
        }

        #[test]
        fn refuses_empty_truncated_and_altered_signatures() {
            let mac = SIGNATURE.strip_prefix("v1,").expect("v1");
            let half = BASE64.encode(&BASE64.decode(mac).expect("base64")[..16]);
            for bad in [
                "v1,".to_owned(),
                SIGNATURE[..8].to_owned(),
                format!("v1,{half}"),
                SIGNATURE[..SIGNATURE.len() - 4].to_owned(),
                // One bit off (the Python library's case), and not base64 at all (JavaScript's).
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=".to_owned(),
                "v1,dawfeoifkpqwoekfpqoekf".to_owned(),
                // The right MAC under another version, or with no version.
                format!("v2,{mac}"),
                mac.to_owned(),
                String::new(),
            ] {
                assert_eq!(verify_at(&bad, TS, TS), Err(WebhookError::BadSignature), "{bad:?}");
            }
        }

        #[test]
        fn refuses_a_wrong_secret() {
            let other = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("secret");
            let ts = TS.to_string();
            let headers = SignedHeaders { id: ID, timestamp: &ts, signature: SIGNATURE };
            assert_eq!(other.verify(&headers, BODY, TS), Err(WebhookError::BadSignature));
        }

        #[test]
        fn accepts_one_valid_signature_among_several() {
            let decoys = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
            let several = format!("{decoys} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SIGNATURE} {decoys}");
            assert_eq!(verify_at(&several, TS, TS), Ok(()));
            // The Rust library's case: several signatures, none of them valid.
            let none =
                "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= \
                        v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=";
            assert_eq!(verify_at(none, TS, TS), Err(WebhookError::BadSignature));
        }

        #[test]
        fn refuses_a_request_missing_any_of_the_three_headers() {
            let full = || {
                let mut headers = HeaderMap::new();
                headers.insert(HEADER_ID, HeaderValue::from_static(ID));
                headers.insert(HEADER_TIMESTAMP, HeaderValue::from_static("1614265330"));
                headers.insert(HEADER_SIGNATURE, HeaderValue::from_static(SIGNATURE));
                headers
            };
            let headers = full();
            let signed = SignedHeaders::from_headers(&headers).expect("all three");
            assert_eq!(secret().verify(&signed, BODY, TS), Ok(()));
            for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
                let mut headers = full();
                headers.remove(name);
                assert_eq!(SignedHeaders::from_headers(&headers).err(), Some(WebhookError::MissingHeader(name)));
                let mut headers = full();
                headers.insert(name, HeaderValue::from_bytes(b"\xff").expect("opaque bytes"));
                assert_eq!(SignedHeaders::from_headers(&headers).err(), Some(WebhookError::BadHeader(name)));
            }
        }
    }
}
