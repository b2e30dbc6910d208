use alloy::primitives::{address, Address, B256, U256};
use serde_json::json;

use super::*;
use crate::store::payments::{Rail, TokenRef};
use crate::{ChainId, DerivationIndex, Provider};

const USDC: Address = address!("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
const NOW: i64 = 1_700_000_000_000;

fn units(n: u64) -> BaseUnits {
    BaseUnits(U256::from(n))
}

fn pending() -> Payment {
    Payment {
        id: "pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G".parse().expect("id"),
        buyer_id: "buyer-1".into(),
        seller_id: "seller-1".into(),
        seller_offer_id: "offer-1".into(),
        purchase_request_id: "pr-1".into(),
        rail: Rail {
            provider: Provider::AmnScanner,
            chain_id: ChainId(8453),
            token: TokenRef { symbol: "USDC".into(), address: USDC, decimals: 6 },
            amount: units(10_000_000),
        },
        status: PaymentStatus::Pending,
        escrow: EscrowState::Unfunded,
        received: BaseUnits::ZERO,
        destination: address!("fB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
        derivation_index: DerivationIndex::new(7).expect("index"),
        confirmations: 0,
        tx_hash: None,
        underpaid: false,
        safety: None,
        metadata: json!({ "note": "buyer's" }),
        expires_at: NOW + 3_600_000,
        created_at: NOW - 60_000,
        updated_at: NOW - 60_000,
        completed_at: None,
        rn: None,
    }
}

fn transfer(amount: u64, hash: u8) -> EventTransfer {
    EventTransfer {
        chain_id: ChainId(8453),
        token: USDC,
        from: address!("dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"),
        amount_base_units: units(amount),
        tx_hash: B256::repeat_byte(hash),
        log_index: 0,
        block_number: 100,
    }
}

fn kind(announced: Option<Announcement>) -> Option<EventKind> {
    announced.map(|a| a.kind)
}

fn completed() -> Payment {
    let mut payment = pending();
    payment
        .apply(PaymentChange::Credited { transfer: transfer(10_000_000, 1), confirmations: 1 }, NOW)
        .expect("credit");
    let passed = PaymentChange::Checked {
        confirmations: 3,
        verdict: SafetyVerdict::Passed,
        report: json!({"status": "passed"}),
    };
    payment.apply(passed, NOW).expect("confirm");
    payment
}

#[test]
fn a_credit_moves_a_pending_payment_to_processing_and_counts_the_money() {
    let mut payment = pending();
    let announced = payment.apply(PaymentChange::Credited { transfer: transfer(4_000_000, 1), confirmations: 1 }, NOW);
    assert_eq!(kind(announced.expect("applied")), Some(EventKind::Processing));
    assert_eq!(payment.status, PaymentStatus::Processing);
    assert_eq!(payment.received, units(4_000_000));
    assert_eq!(payment.tx_hash, Some(B256::repeat_byte(1)));
    assert_eq!(payment.updated_at, NOW);

    // A top-up stays processing and adds up.
    let top_up = payment.apply(PaymentChange::Credited { transfer: transfer(6_000_000, 2), confirmations: 1 }, NOW);
    assert_eq!(kind(top_up.expect("applied")), Some(EventKind::Processing));
    assert_eq!(payment.received, units(10_000_000));
    assert!(payment.is_covered());
}

#[test]
fn money_after_completion_is_extra_and_leaves_the_status() {
    let mut payment = completed();
    assert_eq!(payment.status, PaymentStatus::Completed);
    assert_eq!(payment.escrow, EscrowState::Funded);
    let extra = payment.apply(PaymentChange::Credited { transfer: transfer(1, 9), confirmations: 1 }, NOW);
    assert_eq!(kind(extra.expect("applied")), Some(EventKind::ExtraTransfer));
    assert_eq!(payment.status, PaymentStatus::Completed);
    assert_eq!(payment.tx_hash, Some(B256::repeat_byte(1)), "the paying transfer stays the payment's hash");
    assert_eq!(payment.received, units(10_000_001));
}

#[test]
fn a_misdirected_transfer_is_announced_and_changes_nothing() {
    let mut payment = pending();
    let announced = payment.apply(PaymentChange::Misdirected { transfer: transfer(5, 1) }, NOW).expect("applied");
    assert_eq!(kind(announced), Some(EventKind::Misdirected));
    assert_eq!(payment, pending());
}

#[test]
fn the_threshold_completes_only_a_processing_payment_whose_checks_passed() {
    let mut payment = pending();
    payment
        .apply(PaymentChange::Credited { transfer: transfer(10_000_000, 1), confirmations: 1 }, NOW)
        .expect("credit");
    let report = json!({"status": "failed"});
    let failed = PaymentChange::Checked { confirmations: 3, verdict: SafetyVerdict::Failed, report: report.clone() };
    assert_eq!(kind(payment.apply(failed.clone(), NOW).expect("applied")), Some(EventKind::SafetyCheckFailed));
    assert_eq!(kind(payment.apply(failed, NOW).expect("applied")), None, "a failure is announced once");
    assert_eq!(payment.status, PaymentStatus::Processing);

    let passed = PaymentChange::Checked { confirmations: 3, verdict: SafetyVerdict::Passed, report: json!({}) };
    assert_eq!(kind(payment.apply(passed.clone(), NOW).expect("applied")), Some(EventKind::Completed));
    assert_eq!((payment.status, payment.completed_at), (PaymentStatus::Completed, Some(NOW)));

    // Completing twice is refused, and leaves the payment as it was.
    let before = payment.clone();
    let refused = payment.apply(passed, NOW + 1).expect_err("completed twice");
    assert_eq!(
        refused,
        ChangeError::Transition(InvalidTransition { from: PaymentStatus::Completed, to: PaymentStatus::Completed })
    );
    assert_eq!(payment, before);
}

#[test]
fn an_underpaid_payment_is_announced_once_and_unmarked_by_a_top_up() {
    let mut payment = pending();
    payment.apply(PaymentChange::Credited { transfer: transfer(1_000_000, 1), confirmations: 1 }, NOW).expect("credit");
    assert_eq!(
        kind(payment.apply(PaymentChange::Underpaid { confirmations: 3 }, NOW).expect("ok")),
        Some(EventKind::Underpaid)
    );
    assert!(payment.underpaid);
    assert_eq!(payment.apply(PaymentChange::Underpaid { confirmations: 3 }, NOW).expect("ok"), None);
    payment.apply(PaymentChange::Credited { transfer: transfer(9_000_000, 2), confirmations: 1 }, NOW).expect("top-up");
    assert!(!payment.underpaid);
}

#[test]
fn a_reorg_moves_a_completed_payment_back_but_not_money_that_left() {
    let mut payment = completed();
    let reverted = PaymentChange::Reverted { received: BaseUnits::ZERO, tx_hash: None, lost: Vec::new() };
    assert_eq!(kind(payment.apply(reverted.clone(), NOW).expect("applied")), Some(EventKind::Reverted));
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!((payment.escrow, payment.received, payment.confirmations), (EscrowState::Unfunded, BaseUnits::ZERO, 0));
    assert_eq!((payment.completed_at, payment.safety.clone(), payment.tx_hash), (None, None, None));

    let mut released = completed();
    let settlement = EventSettlement {
        payout_id: "po_01JD3Y5Q6P2W8V3N4M5K6J7H8H".parse().expect("id"),
        recipient: USDC,
        tx_hash: None,
    };
    released.apply(PaymentChange::Settled { kind: PayoutKind::Release, settlement }, NOW).expect("released");
    assert_eq!((released.status, released.escrow), (PaymentStatus::Released, EscrowState::Released));
    assert_eq!(kind(released.apply(reverted, NOW).expect("applied")), Some(EventKind::Reverted));
    assert_eq!(released.status, PaymentStatus::Released, "a reorg cannot take back what was paid out");
}

#[test]
fn only_an_unpaid_pending_payment_expires_or_is_closed_by_hand() {
    let mut payment = pending();
    assert_eq!(kind(payment.apply(PaymentChange::Expired, NOW).expect("applied")), Some(EventKind::Cancelled));
    assert_eq!(payment.status, PaymentStatus::Cancelled);
    assert!(PaymentChange::Expired.rewatches());

    let mut paid = completed();
    let by_hand = PaymentChange::Edited { status: Some(PaymentStatus::Failed), metadata: None, by: "admin-1".into() };
    assert!(paid.apply(by_hand.clone(), NOW).is_err(), "money states come from the chain");
    assert_eq!(paid.status, PaymentStatus::Completed);

    let mut open = pending();
    let note = json!({"admin": "checked"}).as_object().cloned();
    let edit = PaymentChange::Edited { status: Some(PaymentStatus::Failed), metadata: note, by: "admin-1".into() };
    let announced = open.apply(edit, NOW).expect("applied").expect("announced");
    assert_eq!(announced.kind, EventKind::Cancelled);
    assert_eq!(announced.detail, Some(EventDetail::Reason("set to failed by admin-1".into())));
    assert_eq!(open.status, PaymentStatus::Failed);
    assert_eq!(open.metadata, json!({"note": "buyer's", "admin": "checked"}));
}

#[test]
fn a_credit_that_would_overflow_is_refused() {
    let mut payment = pending();
    payment.received = BaseUnits(U256::MAX);
    let overflow = payment.apply(PaymentChange::Credited { transfer: transfer(1, 1), confirmations: 1 }, NOW);
    assert_eq!(overflow, Err(ChangeError::Overflow(payment.id.clone())));
}
