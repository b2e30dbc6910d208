-- The timestamp of the block a chain's cursor points at: a payment expires only once its chain
-- has been scanned past the block at its expiresAt. NULL until the follower writes it.
-- (SQLite has no TRUNCATE; its ledger triggers already refuse every UPDATE and DELETE.)
ALTER TABLE chain_cursors ADD COLUMN block_timestamp BIGINT;
