-- payscan core schema (SQLite). Amounts are base-unit integers as decimal TEXT; times are Unix ms.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
-- Derivation indices start at 0; watch sequence numbers at 1, since followers load "after 0".
INSERT INTO counters (name, value) VALUES ('derivation_index', 0), ('watch_seq', 1);

CREATE TABLE payments (
    id                  TEXT PRIMARY KEY NOT NULL,
    buyer_id            TEXT NOT NULL,
    seller_id           TEXT NOT NULL,
    seller_offer_id     TEXT NOT NULL,
    purchase_request_id TEXT NOT NULL,
    provider            TEXT NOT NULL,
    status              TEXT NOT NULL,
    escrow_state        TEXT NOT NULL,
    chain_id            BIGINT NOT NULL,
    token_address       TEXT NOT NULL,
    token_symbol        TEXT NOT NULL,
    token_decimals      BIGINT NOT NULL,
    amount              TEXT NOT NULL,
    received            TEXT NOT NULL,
    destination         TEXT NOT NULL,
    derivation_index    BIGINT NOT NULL UNIQUE,
    confirmations       BIGINT NOT NULL,
    tx_hash             TEXT,
    underpaid           BIGINT NOT NULL,
    metadata            TEXT NOT NULL,
    watch_seq           BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    completed_at        BIGINT
);
-- One open payment per buyer and seller offer: a repeated intent gets it back.
CREATE UNIQUE INDEX payments_open_offer ON payments (buyer_id, seller_offer_id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX payments_buyer ON payments (buyer_id, created_at);
CREATE INDEX payments_watch ON payments (watch_seq);
CREATE INDEX payments_chain_status ON payments (chain_id, status);

-- Every transfer seen to a watched destination, once per log.
CREATE TABLE credits (
    chain_id      BIGINT NOT NULL,
    tx_hash       TEXT NOT NULL,
    log_index     BIGINT NOT NULL,
    payment_id    TEXT NOT NULL REFERENCES payments (id),
    block_number  BIGINT NOT NULL,
    block_hash    TEXT NOT NULL,
    token_address TEXT NOT NULL,
    from_address  TEXT NOT NULL,
    to_address    TEXT NOT NULL,
    amount        TEXT NOT NULL,
    counted       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX credits_payment ON credits (payment_id);

CREATE TABLE chain_cursors (
    chain_id     BIGINT PRIMARY KEY NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Hashes of processed blocks (range ends and blocks with credits), for reorg detection.
CREATE TABLE block_hashes (
    chain_id     BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash   TEXT NOT NULL,
    PRIMARY KEY (chain_id, block_number)
);

CREATE TABLE outbox_events (
    ord        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_events_payment ON outbox_events (payment_id, ord);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_ord       BIGINT NOT NULL REFERENCES outbox_events (ord),
    payment_id      TEXT NOT NULL,
    target          TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    UNIQUE (event_ord, target)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (payment_id, target, event_ord);

-- Webhooks payscan's own receiver accepted, deduplicated by webhook-id for good.
CREATE TABLE webhook_receipts (
    webhook_id  TEXT PRIMARY KEY NOT NULL,
    payment_id  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    status      TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX webhook_receipts_payment ON webhook_receipts (payment_id, received_at);
