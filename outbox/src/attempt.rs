//! One delivery attempt: signed afresh (Standard Webhooks, the same `webhook-id` on every retry),
//! posted through the outbound policy, its answer read up to the cap and turned into an outcome.

use std::sync::Arc;
use std::time::SystemTime;

use payscan_core::config::WebhookConfig;
use payscan_core::outbound::{self, OutboundClient, OutboundPolicy};
use payscan_core::store::outbox::AttemptOutcome;
use payscan_core::store::DueDelivery;
use payscan_core::webhook::{WebhookSecret, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SELF_TARGET};
use payscan_core::{clock, failpoint};

/// Signs and posts deliveries.
#[derive(Clone)]
pub(crate) struct Poster {
    http: OutboundClient,
    /// For payscan's own receiver, whose address this instance chose itself.
    self_http: OutboundClient,
    secret: Arc<WebhookSecret>,
    /// Where [`SELF_TARGET`] deliveries go: this instance's own receiver.
    self_url: Option<Arc<str>>,
}

impl Poster {
    pub(crate) fn new(config: &WebhookConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: OutboundClient::new(config.policy(), config.timeout)?,
            self_http: OutboundClient::new(OutboundPolicy::unrestricted(), config.timeout)?,
            secret: Arc::new(config.secret.clone()),
            self_url: None,
        })
    }

    pub(crate) fn with_self_url(mut self, url: String) -> Self {
        self.self_url = Some(Arc::from(url));
        self
    }

    /// A redirect is a failed attempt (never followed); 410 Gone ends the delivery; a 429 or 503
    /// may push the retry back with `Retry-After`.
    pub(crate) async fn deliver(&self, delivery: &DueDelivery) -> AttemptOutcome {
        let failed = |error: String| AttemptOutcome::Failed { status: None, error, retry_after: None };
        let (client, url) = if delivery.target == SELF_TARGET {
            match &self.self_url {
                Some(url) => (&self.self_http, url.as_ref()),
                None => return failed("payscan's own receiver is turned off (PAYSCAN_SELF_WEBHOOK=false)".to_owned()),
            }
        } else {
            (&self.http, delivery.target.as_str())
        };
        let request = match client.post(url) {
            Ok(request) => request,
            Err(refused) => return failed(refused.to_string()),
        };
        let timestamp = clock::now_ms() / 1000;
        let signature = self.secret.sign(delivery.event_id.as_str(), timestamp, delivery.payload.as_bytes());
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, delivery.event_id.as_str())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(e) => return failed(describe(e)),
        };
        let status = response.status();
        let code = status.as_u16();
        let retry_after =
            matches!(code, 429 | 503).then(|| outbound::retry_after(response.headers(), SystemTime::now())).flatten();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| l.chars().take(200).collect::<String>());
        // Read what the cap allows, so the connection can serve the next delivery.
        let body = match outbound::read_capped(&mut response).await {
            Ok(body) => String::from_utf8_lossy(&body).into_owned(),
            Err(e) if status.is_success() => return failed(describe(e)),
            Err(_) => String::new(),
        };
        if status.is_success() {
            failpoint::reached("dispatch.acknowledged");
            AttemptOutcome::Delivered { status: code }
        } else if code == 410 {
            AttemptOutcome::Gone { error: format!("HTTP 410: {body}") }
        } else if status.is_redirection() {
            let to = location.unwrap_or_default();
            AttemptOutcome::Failed {
                status: Some(code),
                error: format!("HTTP {code}: redirect to `{to}` not followed"),
                retry_after: None,
            }
        } else {
            AttemptOutcome::Failed { status: Some(code), error: format!("HTTP {code}: {body}"), retry_after }
        }
    }
}

/// A transport error with its causes (a refused address says why), never the URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
