-- A chain whose follower met a reorg deeper than PAYSCAN_MAX_REORG_DEPTH is halted (halted_at,
-- Unix ms) until an operator authorizes one unwind searching up to unwind_depth blocks.
ALTER TABLE chain_cursors ADD COLUMN halted_at BIGINT;
ALTER TABLE chain_cursors ADD COLUMN unwind_depth BIGINT;
