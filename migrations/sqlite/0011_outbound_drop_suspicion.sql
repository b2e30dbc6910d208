-- When a sent transaction's nonce was first seen used with none of its hashes known to the node.
-- It counts as dropped only if that still holds a grace period later: a node may count a nonce
-- before it serves the receipt.
ALTER TABLE outbound_txs ADD COLUMN suspected_at BIGINT;
