//! A webhook target for tests: a real HTTP server that verifies each delivery with the
//! `standardwebhooks` crate (an implementation independent of payscan's) and dedupes by
//! `webhook-id` as a careful receiver does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;

/// A port bound but not listening: connections to it are refused, as to a target that is down,
/// and no one else can take it before the receiver starts listening on it.
pub struct ReservedPort {
    socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl ReservedPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let port = socket.local_addr().expect("address").port();
        Self { socket, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

/// One delivery that verified.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub event_type: String,
    pub body: Value,
    /// False when this `webhook-id` had been processed before.
    pub first: bool,
    /// When it was processed, just before the answer.
    pub at: Instant,
    /// Its `webhook-timestamp`: when payscan signed the attempt, just before sending it.
    pub signed_at: u64,
}

/// One request that reached a [`Receiver`], whatever it was answered.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Bytes,
    pub verified: bool,
    pub status: StatusCode,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    arrivals: Vec<Arrival>,
    unverified: usize,
    /// Verified arrivals refused with 500 so far, by `webhook-id`.
    refused: HashMap<String, usize>,
    /// Verified arrivals not answered yet, by `webhook-id`.
    in_flight: HashMap<String, usize>,
    /// `webhook-id`s that arrived while an earlier arrival of the same id was still unanswered.
    overlapping: Vec<String>,
    /// `webhook-id`s whose sender went away before the answer (a killed instance).
    abandoned: Vec<String>,
}

/// Counts one arrival in flight until dropped, answered or abandoned by its sender.
struct InFlight {
    inner: Arc<Mutex<Inner>>,
    id: String,
    answered: bool,
}

impl InFlight {
    fn enter(inner: &Arc<Mutex<Inner>>, id: &str) -> Self {
        let mut guard = inner.lock().expect("lock");
        let count = guard.in_flight.entry(id.to_owned()).or_insert(0);
        *count += 1;
        if *count > 1 {
            guard.overlapping.push(id.to_owned());
        }
        Self { inner: inner.clone(), id: id.to_owned(), answered: false }
    }

    fn answer(mut self, status: StatusCode) -> StatusCode {
        self.answered = true;
        status
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut guard = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = guard.in_flight.get_mut(&self.id) {
            *count = count.saturating_sub(1);
        }
        if !self.answered {
            guard.abandoned.push(self.id.clone());
        }
    }
}

/// How a [`Receiver`] answers a delivery that verified.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answering {
    /// Waits this long, then processes the delivery and answers.
    pub delay: Duration,
    /// Answers 500 to the first this many arrivals of each `webhook-id`.
    pub fail_first: usize,
    /// Waits this long before each of those 500s.
    pub refuse_delay: Duration,
    /// The sender's clock runs this far ahead (payscan's test clock): `webhook-timestamp` is
    /// checked against it instead of this machine's.
    pub clock_shift_ms: i64,
}

/// A webhook receiver on 127.0.0.1.
pub struct Receiver {
    pub url: String,
    pub address: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    failing: Arc<AtomicBool>,
    server: JoinHandle<()>,
}

#[derive(Clone)]
struct ReceiverState {
    secret: String,
    inner: Arc<Mutex<Inner>>,
    failing: Arc<AtomicBool>,
    answering: Answering,
}

impl Receiver {
    /// Listens on a free port.
    pub async fn start(secret: &str) -> Self {
        Self::start_on(ReservedPort::new(), secret).await
    }

    /// Listens on a port reserved earlier (one a target was configured with before it came up).
    pub async fn start_on(port: ReservedPort, secret: &str) -> Self {
        Self::start_answering(port, secret, Answering::default()).await
    }

    /// [`Receiver::start_on`], answering as `answering` says.
    pub async fn start_answering(port: ReservedPort, secret: &str, answering: Answering) -> Self {
        let listener = port.socket.listen(1024).expect("listen");
        let address = listener.local_addr().expect("address");
        let inner = Arc::new(Mutex::new(Inner::default()));
        let failing = Arc::new(AtomicBool::new(false));
        let state =
            ReceiverState { secret: secret.to_owned(), inner: inner.clone(), failing: failing.clone(), answering };
        let app = Router::new().route("/hook", post(receive)).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url: format!("http://{address}/hook"), address, inner, failing, server }
    }

    /// Answers 500 to everything while set.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().expect("lock").deliveries.clone()
    }

    /// Every request that reached it, in arrival order, refused ones included.
    pub fn all_arrivals(&self) -> Vec<Arrival> {
        self.inner.lock().expect("lock").arrivals.clone()
    }

    /// `webhook-id`s that arrived again while an earlier arrival of theirs was still unanswered:
    /// one event delivered concurrently.
    pub fn overlapping(&self) -> Vec<String> {
        self.inner.lock().expect("lock").overlapping.clone()
    }

    /// Arrivals being handled right now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().expect("lock").in_flight.values().sum()
    }

    /// `webhook-id`s whose sender went away before it answered, in the order they were cut off.
    pub fn abandoned(&self) -> Vec<String> {
        self.inner.lock().expect("lock").abandoned.clone()
    }

    pub fn unverified(&self) -> usize {
        self.inner.lock().expect("lock").unverified
    }

    /// Events processed (first delivery of each `webhook-id`) about one payment or payout, in
    /// arrival order.
    pub fn events_for(&self, id: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.first && (d.body["intentId"] == id || d.body["payoutId"] == id))
            .collect()
    }

    /// How often each `webhook-id` arrived.
    pub fn arrivals(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for d in self.deliveries() {
            *counts.entry(d.id).or_insert(0) += 1;
        }
        counts
    }

    /// Waits until an event of `event_type` about `payment_id` (or a payout id) has been processed.
    pub async fn wait_for(&self, payment_id: &str, event_type: &str) -> Delivery {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(d) = self.events_for(payment_id).into_iter().find(|d| d.event_type == event_type) {
                return d;
            }
            assert!(Instant::now() < deadline, "no {event_type} webhook for {payment_id}; got {:?}", self.deliveries());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let id = header("webhook-id");
    let verified = match state.answering.clock_shift_ms {
        0 => standardwebhooks::Webhook::new(&state.secret).and_then(|webhook| webhook.verify(&body, &headers)).is_ok(),
        shift => verify_shifted(&state.secret, &headers, &body, shift),
    };
    let signed_at = header("webhook-timestamp").parse().unwrap_or_default();
    let status = answer_verified(&state, &id, verified, &body, signed_at).await;
    state.inner.lock().expect("lock").arrivals.push(Arrival {
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        id,
        body,
        verified,
        status,
        at,
    });
    status
}

async fn answer_verified(state: &ReceiverState, id: &str, verified: bool, body: &Bytes, signed_at: u64) -> StatusCode {
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if !verified {
        state.inner.lock().expect("lock").unverified += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let in_flight = InFlight::enter(&state.inner, id);
    if state.answering.fail_first > 0 {
        let refuse = {
            let mut inner = state.inner.lock().expect("lock");
            let refused = inner.refused.entry(id.to_owned()).or_insert(0);
            let refuse = *refused < state.answering.fail_first;
            if refuse {
                *refused += 1;
            }
            refuse
        };
        if refuse {
            tokio::time::sleep(state.answering.refuse_delay).await;
            return in_flight.answer(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    if !state.answering.delay.is_zero() {
        tokio::time::sleep(state.answering.delay).await;
    }
    let mut inner = state.inner.lock().expect("lock");
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let first = !inner.deliveries.iter().any(|d| d.id == id);
    inner.deliveries.push(Delivery {
        event_type: body["type"].as_str().unwrap_or_default().to_owned(),
        id: id.to_owned(),
        body,
        first,
        at: Instant::now(),
        signed_at,
    });
    drop(inner);
    in_flight.answer(StatusCode::OK)
}

/// The Standard Webhooks check with the sender's clock `shift_ms` ahead: the signature still by
/// the `standardwebhooks` crate, the timestamp within its five minutes of the shifted time.
fn verify_shifted(secret: &str, headers: &HeaderMap, body: &[u8], shift_ms: i64) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return false;
    };
    let Ok(timestamp) = timestamp.parse::<i64>() else { return false };
    let now = chrono::Utc::now().timestamp() + shift_ms / 1000;
    if (timestamp - now).abs() > 300 {
        return false;
    }
    let Ok(expected) = standardwebhooks::Webhook::new(secret).and_then(|w| w.sign(id, timestamp, body)) else {
        return false;
    };
    signatures.split(' ').any(|signature| signature == expected)
}

/// How a [`Target`] answers whatever reaches it.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 to any method and path: where a redirect points.
    Ok,
    /// That 3xx status with `Location: <url>`.
    Redirect(u16, String),
    /// 410 Gone.
    Gone,
    /// 429 with `Retry-After: <seconds>` to the first `times` requests, then 200.
    RateLimited { retry_after: u64, times: usize },
    /// Accepts the request and never answers.
    Hang,
}

/// One request a [`Target`] saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub webhook_id: Option<String>,
    pub at: Instant,
}

/// A target that misbehaves in one way, on 127.0.0.1, recording every request it sees.
pub struct Target {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    server: JoinHandle<()>,
}

#[derive(Clone)]
struct TargetState {
    behaviour: Behaviour,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Target {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = TargetState { behaviour, hits: hits.clone() };
        let app = Router::new().fallback(answer).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url: format!("http://{address}/hook"), hits, server }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// Requests carrying this `webhook-id`.
    pub fn hits_of(&self, webhook_id: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.webhook_id.as_deref() == Some(webhook_id)).collect()
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

async fn answer(State(state): State<TargetState>, method: Method, headers: HeaderMap) -> Response {
    let webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let seen = {
        let mut hits = state.hits.lock().expect("lock");
        hits.push(Hit { method, webhook_id, at: Instant::now() });
        hits.len()
    };
    match state.behaviour {
        Behaviour::Ok => StatusCode::OK.into_response(),
        Behaviour::Redirect(code, to) => {
            (StatusCode::from_u16(code).expect("status"), [(header::LOCATION, to)]).into_response()
        }
        Behaviour::Gone => (StatusCode::GONE, "endpoint removed").into_response(),
        Behaviour::RateLimited { retry_after, times } if seen <= times => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after.to_string())]).into_response()
        }
        Behaviour::RateLimited { .. } => StatusCode::OK.into_response(),
        Behaviour::Hang => std::future::pending().await,
    }
}
