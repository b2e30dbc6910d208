-- Transactions payscan sends (SQLite): the next nonce per (chain, sender), and every signed
-- transaction recorded before it is broadcast.
CREATE TABLE sender_nonces (
    chain_id   BIGINT NOT NULL,
    sender     TEXT NOT NULL,
    next_nonce BIGINT NOT NULL,
    PRIMARY KEY (chain_id, sender)
);

CREATE TABLE outbound_txs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id       BIGINT NOT NULL,
    sender         TEXT NOT NULL,
    nonce          BIGINT NOT NULL,
    purpose        TEXT NOT NULL,
    reference      TEXT NOT NULL,
    tx_to          TEXT NOT NULL,
    tx_value       TEXT NOT NULL,
    tx_data        TEXT NOT NULL,
    gas_limit      BIGINT NOT NULL,
    max_fee        TEXT NOT NULL,
    priority_fee   TEXT NOT NULL,
    raw            TEXT NOT NULL,
    tx_hash        TEXT NOT NULL,
    hashes         TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempts       BIGINT NOT NULL,
    receipt_status BIGINT,
    block_number   BIGINT,
    last_error     TEXT,
    replace_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (chain_id, sender, nonce),
    UNIQUE (purpose, reference)
);
CREATE INDEX outbound_pending ON outbound_txs (chain_id, sender, status);
