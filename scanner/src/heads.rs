//! A `newHeads` subscription over WebSocket that wakes a chain's follower the moment a block
//! arrives. It only shortens the wait between polls: the follower still reads the head over HTTP
//! and takes nothing from the subscription but the nudge, so a dropped, slow or lying socket
//! costs latency, never correctness.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use payscan_core::registry::redact_url;
use payscan_core::ChainId;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

const SUBSCRIBE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}"#;

/// Keeps a subscription to `url` open until `cancel`, reconnecting with backoff, and notifies
/// `wake` at every new head.
pub async fn follow(chain_id: ChainId, url: String, wake: Arc<Notify>, cancel: CancellationToken) {
    let shown = redact_url(&url);
    let mut backoff = Duration::from_secs(1);
    while !cancel.is_cancelled() {
        match subscribe(&url, &wake, &cancel).await {
            Ok(()) => break,
            Err(e) => {
                warn!(%chain_id, ws = %shown, error = %payscan_core::redact::scrub_urls(&e), retry_in_s = backoff.as_secs(), "newHeads subscription lost; polling meanwhile");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
    debug!(%chain_id, "newHeads subscription stopped");
}

/// One connection: subscribes and wakes on every notification until cancelled (`Ok`) or the
/// connection fails (`Err`).
async fn subscribe(url: &str, wake: &Notify, cancel: &CancellationToken) -> Result<(), String> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| e.to_string())?;
    socket.send(Message::text(SUBSCRIBE)).await.map_err(|e| e.to_string())?;
    let mut subscribed = false;
    loop {
        let message = tokio::select! {
            _ = cancel.cancelled() => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            message = socket.next() => message,
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                if text.contains("\"eth_subscription\"") {
                    // A permit is kept when the follower is mid-tick: it looks again at once.
                    wake.notify_one();
                } else if !subscribed {
                    let answer: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    if let Some(error) = answer.get("error") {
                        return Err(format!("eth_subscribe refused: {error}"));
                    }
                    subscribed = true;
                    info!(ws = %redact_url(url), "newHeads subscription open");
                }
            }
            Some(Ok(Message::Close(_))) | None => return Err("the node closed the connection".to_owned()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}
