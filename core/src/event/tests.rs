use std::collections::BTreeSet;

use alloy::primitives::{address, Address, B256, U256};
use serde_json::{json, Value};

use super::*;
use crate::store::credits::{Credit, ProxyPayment};
use crate::store::payments::{Rail, TokenRef};
use crate::{BaseUnits, ChainId, DerivationIndex, EscrowState, PaymentStatus, PayoutKind, PayoutStatus, Provider};

const PAYMENT_ID: &str = "pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G";
const PAYOUT_ID: &str = "po_01JD3Y5Q6P2W8V3N4M5K6J7H8H";
const USDC: Address = address!("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
const DESTINATION: Address = address!("fB6916095ca1df60bB79Ce92cE3Ea74c37c5d359");
const BUYER: Address = address!("dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB");
/// 2023-11-14T22:13:20.123Z
const NOW: i64 = 1_700_000_000_123;

fn units(n: u64) -> BaseUnits {
    BaseUnits(U256::from(n))
}

fn usdc() -> TokenRef {
    TokenRef { symbol: "USDC".into(), address: USDC, decimals: 6 }
}

fn payment() -> Payment {
    Payment {
        id: PAYMENT_ID.parse().expect("id"),
        buyer_id: "buyer-1".into(),
        seller_id: "seller-1".into(),
        seller_offer_id: "offer-1".into(),
        purchase_request_id: "pr-1".into(),
        rail: Rail {
            provider: Provider::AmnScanner,
            chain_id: ChainId(8453),
            token: usdc(),
            amount: units(12_500_000),
        },
        status: PaymentStatus::Completed,
        escrow: EscrowState::Funded,
        received: units(13_000_000),
        destination: DESTINATION,
        derivation_index: DerivationIndex::new(7).expect("index"),
        confirmations: 12,
        tx_hash: Some(B256::repeat_byte(0xab)),
        underpaid: false,
        safety: Some(json!({ "status": "passed", "checks": [] })),
        metadata: json!({}),
        expires_at: NOW + 3_600_000,
        created_at: NOW - 60_000,
        updated_at: NOW,
        completed_at: Some(NOW),
        rn: None,
    }
}

fn payout() -> Payout {
    Payout {
        id: PAYOUT_ID.parse().expect("id"),
        kind: PayoutKind::Release,
        user_id: "seller-1".into(),
        reference: "release-1".into(),
        contract_id: Some("contract-1".into()),
        reason: None,
        payment_id: Some(PAYMENT_ID.parse().expect("id")),
        holds_escrow: true,
        chain_id: ChainId(8453),
        token: usdc(),
        recipient: BUYER,
        amount: units(12_500_000),
        status: PayoutStatus::Failed,
        attempts: 2,
        failures: 2,
        next_attempt_at: Some(NOW + 60_000),
        tx_hash: None,
        last_error: Some("nonce too low".into()),
        created_at: NOW - 60_000,
        updated_at: NOW,
        completed_at: None,
    }
}

fn credit() -> Credit {
    Credit {
        chain_id: ChainId(8453),
        tx_hash: B256::repeat_byte(0xcd),
        log_index: 3,
        payment_id: PAYMENT_ID.parse().expect("id"),
        block_number: 1_234,
        block_hash: B256::repeat_byte(0xef),
        token: USDC,
        from: BUYER,
        to: DESTINATION,
        amount: units(13_000_000),
        counted: true,
        reverted: true,
        proxy: Some(ProxyPayment {
            reference: "0102030405060708".parse().expect("reference"),
            fee_amount: units(1_000),
            fee_address: BUYER,
        }),
    }
}

fn transfer() -> EventTransfer {
    EventTransfer {
        chain_id: ChainId(8453),
        token: USDC,
        from: BUYER,
        amount_base_units: units(13_000_000),
        tx_hash: B256::repeat_byte(0xcd),
        log_index: 3,
        block_number: 1_234,
    }
}

/// What each kind of payment event carries beyond the body, as payscan's callers add it.
fn detail_of(kind: EventKind) -> Option<EventDetail> {
    match kind {
        EventKind::Processing | EventKind::ExtraTransfer | EventKind::Misdirected => {
            Some(EventDetail::Transfer(transfer()))
        }
        EventKind::Reverted => Some(EventDetail::RevertedTransfers(vec![CreditedTransfer::from(&credit())])),
        EventKind::Released | EventKind::Refunded => Some(EventDetail::Settlement(EventSettlement {
            payout_id: PAYOUT_ID.parse().expect("id"),
            recipient: BUYER,
            tx_hash: Some(B256::repeat_byte(0x12)),
        })),
        EventKind::Cancelled => Some(EventDetail::Reason("expired".into())),
        EventKind::Underpaid | EventKind::Completed | EventKind::SafetyCheckFailed => None,
    }
}

fn keys(body: &Value) -> BTreeSet<&str> {
    body.as_object().expect("object").keys().map(String::as_str).collect()
}

fn hash(byte: &str) -> String {
    format!("0x{}", byte.repeat(32))
}

#[test]
fn every_event_kind_survives_a_round_trip_through_its_json() {
    let mut bodies = Vec::new();
    for kind in EventKind::ALL {
        bodies.push(payment_event(kind, &payment(), 12, detail_of(kind), NOW));
    }
    for kind in PayoutEvent::ALL {
        bodies.push(payout_event(kind, &payout(), NOW));
    }
    assert_eq!(bodies.len(), 17);
    for event in bodies {
        let text = serde_json::to_string(&event).expect("serialize");
        let parsed: WebhookEvent = serde_json::from_str(&text).expect(&text);
        assert_eq!(parsed, event, "{text}");
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(body["type"], event.event_type(), "the `type` is the kind's own string");
        assert_eq!(parsed.subject(), if event.event_type().starts_with("payout.") { PAYOUT_ID } else { PAYMENT_ID });
    }
}

#[test]
fn type_strings_are_the_kinds_names() {
    for kind in EventKind::ALL {
        assert_eq!(serde_json::to_value(kind).expect("kind"), kind.as_str());
    }
    for kind in PayoutEvent::ALL {
        assert_eq!(serde_json::to_value(kind).expect("kind"), kind.as_str());
    }
}

#[test]
fn a_payment_event_has_the_keys_delivered_so_far_even_when_values_are_null() {
    let mut payment = payment();
    payment.tx_hash = None;
    payment.safety = None;
    let body = serde_json::to_value(payment_event(EventKind::Underpaid, &payment, 12, None, NOW)).expect("json");
    let expected = BTreeSet::from([
        "type",
        "intentId",
        "paymentId",
        "provider",
        "status",
        "escrowState",
        "txHash",
        "transactionHash",
        "chainId",
        "confirmations",
        "threshold",
        "amount",
        "amountBaseUnits",
        "amountReceived",
        "amountReceivedBaseUnits",
        "overpaidBaseUnits",
        "underpaid",
        "transactionSafety",
        "token",
        "destination",
        "purchaseRequestId",
        "sellerOfferId",
        "sellerId",
        "buyerId",
        "occurredAt",
    ]);
    assert_eq!(keys(&body), expected);
    assert_eq!(
        (&body["txHash"], &body["transactionHash"], &body["transactionSafety"]),
        (&json!(null), &json!(null), &json!(null))
    );
}

#[test]
fn a_payout_event_has_the_keys_delivered_so_far() {
    let body = serde_json::to_value(payout_event(PayoutEvent::Failed, &payout(), NOW)).expect("json");
    let expected = BTreeSet::from([
        "type",
        "payoutId",
        "kind",
        "status",
        "userId",
        "reference",
        "contractId",
        "reason",
        "paymentId",
        "chainId",
        "token",
        "recipient",
        "amount",
        "amountBaseUnits",
        "attempts",
        "txHash",
        "error",
        "nextAttemptAt",
        "occurredAt",
    ]);
    assert_eq!(keys(&body), expected);
}

#[test]
fn a_payment_event_says_what_it_always_said() {
    let event = payment_event(EventKind::Processing, &payment(), 12, detail_of(EventKind::Processing), NOW);
    let expected = json!({
        "type": "payment.processing",
        "intentId": PAYMENT_ID,
        "paymentId": PAYMENT_ID,
        "provider": "amn.scanner",
        "status": "completed",
        "escrowState": "funded",
        "txHash": hash("ab"),
        "transactionHash": hash("ab"),
        "chainId": 8453,
        "confirmations": 12,
        "threshold": 12,
        "amount": "12.5",
        "amountBaseUnits": "12500000",
        "amountReceived": "13",
        "amountReceivedBaseUnits": "13000000",
        "overpaidBaseUnits": "500000",
        "underpaid": false,
        "transactionSafety": { "status": "passed", "checks": [] },
        "token": { "symbol": "USDC", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "decimals": 6 },
        "destination": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "purchaseRequestId": "pr-1",
        "sellerOfferId": "offer-1",
        "sellerId": "seller-1",
        "buyerId": "buyer-1",
        "occurredAt": "2023-11-14T22:13:20.123Z",
        "transfer": {
            "chainId": 8453,
            "token": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "from": "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "amountBaseUnits": "13000000",
            "txHash": hash("cd"),
            "logIndex": 3,
            "blockNumber": 1234,
        },
    });
    assert_eq!(serde_json::to_value(&event).expect("json"), expected);
}

#[test]
fn a_payout_event_says_what_it_always_said() {
    let expected = json!({
        "type": "payout.failed",
        "payoutId": PAYOUT_ID,
        "kind": "release",
        "status": "FAILED",
        "userId": "seller-1",
        "reference": "release-1",
        "contractId": "contract-1",
        "reason": null,
        "paymentId": PAYMENT_ID,
        "chainId": 8453,
        "token": { "symbol": "USDC", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "decimals": 6 },
        "recipient": "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "amount": "12.5",
        "amountBaseUnits": "12500000",
        "attempts": 2,
        "txHash": null,
        "error": "nonce too low",
        "nextAttemptAt": "2023-11-14T22:14:20.123Z",
        "occurredAt": "2023-11-14T22:13:20.123Z",
    });
    assert_eq!(serde_json::to_value(payout_event(PayoutEvent::Failed, &payout(), NOW)).expect("json"), expected);
    let mut retrying = payout();
    retrying.status = PayoutStatus::Retrying(2);
    let event = payout_event(PayoutEvent::Processing, &retrying, NOW);
    assert_eq!(serde_json::to_value(&event).expect("json")["status"], "RETRY_2");
    assert_eq!(event.status(), "RETRY_2");
}

#[test]
fn details_sit_under_their_own_keys_as_callers_wrote_them() {
    let body = |kind| serde_json::to_value(payment_event(kind, &payment(), 12, detail_of(kind), NOW)).expect("json");
    // A reverted transfer is shown as the API shows a credit.
    assert_eq!(body(EventKind::Reverted)["revertedTransfers"], json!([credit().to_json()]));
    assert_eq!(
        body(EventKind::Released)["settlement"],
        json!({ "payoutId": PAYOUT_ID, "recipient": "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "txHash": hash("12") })
    );
    assert_eq!(body(EventKind::Cancelled)["reason"], "expired");
    let completed = body(EventKind::Completed);
    for key in ["transfer", "revertedTransfers", "settlement", "reason"] {
        assert!(completed.get(key).is_none(), "{key} in {completed}");
    }
}

#[test]
fn a_body_that_is_no_event_is_refused_with_the_reason() {
    let mut body = serde_json::to_value(payment_event(EventKind::Completed, &payment(), 12, None, NOW)).expect("json");
    let refusal = |body: &Value| serde_json::from_value::<WebhookEvent>(body.clone()).expect_err("refused").to_string();

    body["type"] = json!("payment.teleported");
    assert!(refusal(&body).contains("unknown variant `payment.teleported`"), "{}", refusal(&body));
    body["type"] = json!("payment.completed");
    body["amountBaseUnits"] = json!(12_500_000);
    assert!(refusal(&body).contains("invalid type"), "{}", refusal(&body));
    let minimal = json!({ "type": "payment.processing", "intentId": PAYMENT_ID, "status": "processing" });
    assert!(refusal(&minimal).contains("missing field"), "{}", refusal(&minimal));
    assert!(refusal(&json!({ "status": "completed" })).contains("missing field `type`"));

    // A payout's `type` asks for a payout's fields.
    let mut payout_body = serde_json::to_value(payout_event(PayoutEvent::Completed, &payout(), NOW)).expect("json");
    payout_body.as_object_mut().expect("object").remove("payoutId");
    assert!(refusal(&payout_body).contains("missing field `payoutId`"), "{}", refusal(&payout_body));
}
