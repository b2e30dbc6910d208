-- The timestamp of the block a chain's cursor points at: a payment expires only once its chain
-- has been scanned past the block at its expiresAt. NULL until the follower writes it.
ALTER TABLE chain_cursors ADD COLUMN block_timestamp BIGINT;

-- The ledger is append-only: TRUNCATE, which row triggers do not see, is refused too.
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
