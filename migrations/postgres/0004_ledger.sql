-- The ledger (PostgreSQL): one row per movement of money, never changed or removed.
CREATE TABLE ledger_entries (
    id         BIGSERIAL PRIMARY KEY,
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

CREATE FUNCTION ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_no_change BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
