//! `GET /api/payment/:id/events` (owner): the payment's changes as Server-Sent Events, so a
//! checkout page shows pending → processing → completed live. Each outbox event about the payment
//! goes out with its outbox sequence as the SSE `id` (a reconnect with `Last-Event-ID` resumes
//! after it); confirmations and amounts between events go out as `payment.progress` without an id.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use payscan_core::store::{Payment, Store};
use payscan_core::{clock, BaseUnits, EscrowState, PaymentId, PaymentStatus};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::feed::{FeedItem, Subscription};
use crate::schemas::ErrorBody;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// Events of the payment read per query when a stream catches up.
const PAGE: i64 = 100;

/// What a stream sends between events: where the payment's money stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Progress {
    r#type: &'static str,
    payment_id: PaymentId,
    status: PaymentStatus,
    escrow_state: EscrowState,
    confirmations: u64,
    amount_received: String,
    amount_received_base_units: BaseUnits,
    underpaid: bool,
    tx_hash: Option<String>,
}

impl Progress {
    fn of(payment: &Payment) -> Self {
        Self {
            r#type: "payment.progress",
            payment_id: payment.id.clone(),
            status: payment.status,
            escrow_state: payment.escrow,
            confirmations: payment.confirmations,
            amount_received: payment.received.to_token_units(payment.rail.token.decimals),
            amount_received_base_units: payment.received,
            underpaid: payment.underpaid,
            tx_hash: payment.tx_hash.map(|h| format!("{h:#x}")),
        }
    }
}

struct Cursor {
    shutdown: tokio_util::sync::CancellationToken,
    feed: Subscription,
    id: PaymentId,
    after: i64,
    last_progress: Option<Progress>,
    queued: std::collections::VecDeque<Event>,
    /// When the caller's token expires: the stream ends then, as a new request would be refused.
    token_expiry: tokio::time::Instant,
}

impl Cursor {
    fn event(&mut self, ord: i64, kind: &str, payload: &str) {
        if ord > self.after {
            self.after = ord;
            self.queued.push_back(Event::default().id(ord.to_string()).event(kind).data(payload));
        }
    }

    fn progress(&mut self, payment: &Payment) {
        let now = Progress::of(payment);
        if self.last_progress.as_ref() != Some(&now) {
            let Ok(data) = serde_json::to_string(&now) else { return };
            self.queued.push_back(Event::default().event("payment.progress").data(data));
            self.last_progress = Some(now);
        }
    }

    /// What happened before the stream joined the feed: the payment's events after the cursor.
    /// Joined first, so nothing falls between the two; the feed's copies of these are skipped.
    async fn catch_up(&mut self, store: &Store, payment: &Payment) -> Result<(), ApiError> {
        loop {
            let events = store.events_after(self.id.as_str(), self.after, PAGE).await?;
            let full = events.len() as i64 == PAGE;
            for (ord, kind, payload) in events {
                self.event(ord, &kind, &payload);
            }
            if !full {
                break;
            }
        }
        self.progress(payment);
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
    operation_id = "streamPaymentEvents",
    tag = "checkout",
    params(
        ("id" = PaymentId, Path, description = "The payment id (`pay_…`)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 503, description = "`PAYSCAN_SSE_MAX_STREAMS` streams are open already (`TOO_MANY_STREAMS`; `Retry-After` says when to try again)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PaymentId>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let payment = super::readable_payment(&state, &caller, &id).await?;
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
        feed: state.feed.subscribe(id.as_str())?,
        token_expiry,
        shutdown: state.shutdown.clone(),
        id,
        after,
        last_progress: None,
        queued: Default::default(),
    };
    cursor.catch_up(&state.store, &payment).await?;
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if tokio::time::Instant::now() >= cursor.token_expiry {
                return None;
            }
            if let Some(event) = cursor.queued.pop_front() {
                return Some((Ok(event), cursor));
            }
            let item = tokio::select! {
                _ = cursor.shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(cursor.token_expiry) => return None,
                item = cursor.feed.items.recv() => item,
            };
            match item {
                Some(FeedItem::Event(event)) => cursor.event(event.ord, &event.kind, &event.payload),
                Some(FeedItem::Payment(payment)) => cursor.progress(&payment),
                None => {
                    // Too slow to keep up, or the feed stopped: the client resumes with
                    // Last-Event-ID and misses nothing.
                    tracing::info!(target: "payscan::api", payment_id = %cursor.id, "event stream closed by the feed");
                    return None;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
