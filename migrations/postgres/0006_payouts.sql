-- Payouts (PostgreSQL): money payscan sends out of the payout wallet. Releases and refunds of a
-- payment's escrow are payouts too, at most one per payment (`escrow_payment_id`).
CREATE TABLE payouts (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('payout', 'release', 'refund')),
    user_id           TEXT NOT NULL,
    reference         TEXT NOT NULL UNIQUE,
    contract_id       TEXT,
    reason            TEXT,
    payment_id        TEXT,
    escrow_payment_id TEXT UNIQUE,
    chain_id          BIGINT NOT NULL,
    token_symbol      TEXT NOT NULL,
    token_address     TEXT NOT NULL,
    token_decimals    BIGINT NOT NULL,
    recipient         TEXT NOT NULL,
    amount            TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    failures          BIGINT NOT NULL,
    next_attempt_at   BIGINT,
    tx_hash           TEXT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    completed_at      BIGINT,
    UNIQUE (contract_id, reason)
);
CREATE INDEX payouts_due ON payouts (status, next_attempt_at);
CREATE INDEX payouts_user ON payouts (user_id, created_at);
