-- The ledger (SQLite): one row per movement of money, never changed or removed.
CREATE TABLE ledger_entries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    payment_id TEXT,
    payout_id  TEXT,
    user_id    TEXT,
    chain_id   BIGINT NOT NULL,
    token      TEXT NOT NULL,
    account    TEXT NOT NULL,
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out', 'none')),
    amount     TEXT NOT NULL,
    tx_hash    TEXT,
    log_index  BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_user ON ledger_entries (user_id, id);
CREATE INDEX ledger_payment ON ledger_entries (payment_id, id);
CREATE INDEX ledger_account ON ledger_entries (chain_id, token, account);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
