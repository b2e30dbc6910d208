//! `GET /api/payment/:id/events` (owner): the payment's changes as Server-Sent Events, so a
//! checkout page shows pending → processing → completed live. Each outbox event about the payment
//! goes out with its outbox sequence as the SSE `id` (a reconnect with `Last-Event-ID` resumes
//! after it); confirmations and amounts between events go out as `payment.progress` without an id.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use payscan_core::store::{Payment, Store};
use payscan_core::{clock, PaymentId};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// How often progress is looked at when no outbox event wakes the stream (events written by
/// another instance arrive this way too).
const POLL: Duration = Duration::from_secs(1);
const PAGE: i64 = 100;

fn progress(payment: &Payment) -> Value {
    let decimals = payment.rail.token.decimals;
    json!({
        "type": "payment.progress",
        "paymentId": payment.id,
        "status": payment.status,
        "escrowState": payment.escrow,
        "confirmations": payment.confirmations,
        "amountReceived": payment.received.to_token_units(decimals),
        "amountReceivedBaseUnits": payment.received,
        "underpaid": payment.underpaid,
        "txHash": payment.tx_hash.map(|h| format!("{h:#x}")),
    })
}

struct Cursor {
    store: Store,
    shutdown: tokio_util::sync::CancellationToken,
    signal: std::sync::Arc<tokio::sync::Notify>,
    id: PaymentId,
    after: i64,
    last_progress: Option<Value>,
    queued: std::collections::VecDeque<Event>,
    /// When the caller's token expires: the stream ends then, as a new request would be refused.
    token_expiry: tokio::time::Instant,
}

impl Cursor {
    /// The next events to send: outbox events after the cursor, then progress if it changed.
    async fn fill(&mut self) -> Result<(), ApiError> {
        for (ord, kind, payload) in self.store.events_after(self.id.as_str(), self.after, PAGE).await? {
            self.after = ord;
            self.queued.push_back(Event::default().id(ord.to_string()).event(kind).data(payload));
        }
        if let Some(payment) = self.store.payment(&self.id).await? {
            let now = progress(&payment);
            if self.last_progress.as_ref() != Some(&now) {
                self.queued.push_back(Event::default().event("payment.progress").data(now.to_string()));
                self.last_progress = Some(now);
            }
        }
        Ok(())
    }
}

/// A payment's live events (SSE).
///
/// The payment's changes as Server-Sent Events: every outbox event about it (its `id` is the
/// outbox sequence: reconnect with `Last-Event-ID` to resume after it) and `payment.progress`
/// (status, confirmations, amount received) as it changes.
#[utoipa::path(
    get,
    path = "/api/payment/{id}/events",
    tag = "checkout",
    params(
        ("id" = String, Path, description = "The payment id (`pay_…`)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String)),
    security(("bearer" = []))
)]
pub(super) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id: PaymentId = id.parse().map_err(|_| ApiError::validation("not a payment id (pay_…)"))?;
    let payment = state.store.payment(&id).await?.ok_or_else(|| ApiError::not_found("payment not found"))?;
    if !caller.may_read(&payment.buyer_id) {
        return Err(ApiError::forbidden("not your payment"));
    }
    let after = match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        None => 0,
        Some(Ok(text)) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::validation("Last-Event-ID must be an event id this stream sent (a non-negative integer)")
        })?,
        Some(Err(_)) => return Err(ApiError::validation("Last-Event-ID is not readable text")),
    };
    let token_left = caller.expires_at.saturating_sub(u64::try_from(clock::now_ms() / 1000).unwrap_or(0));
    let token_expiry = tokio::time::Instant::now() + Duration::from_secs(token_left);
    let mut cursor = Cursor {
        token_expiry,
        signal: state.store.outbox_signal(),
        shutdown: state.shutdown.clone(),
        store: state.store.clone(),
        id,
        after,
        last_progress: None,
        queued: Default::default(),
    };
    cursor.fill().await?;
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if tokio::time::Instant::now() >= cursor.token_expiry {
                return None;
            }
            if let Some(event) = cursor.queued.pop_front() {
                return Some((Ok(event), cursor));
            }
            let woken = cursor.signal.clone();
            tokio::select! {
                _ = cursor.shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(cursor.token_expiry) => return None,
                _ = tokio::time::timeout(POLL, woken.notified()) => {}
            }
            if let Err(e) = cursor.fill().await {
                // The database is unreachable: end the stream; the client reconnects with
                // Last-Event-ID and misses nothing.
                tracing::warn!(target: "payscan::api", payment_id = %cursor.id, error = e.message, "event stream ended");
                return None;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
