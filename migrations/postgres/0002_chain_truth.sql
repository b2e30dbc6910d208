-- Reorgs, Transaction Safety and confirmation threshold overrides (PostgreSQL).

-- A credit whose block left the canonical chain is kept, marked reverted, for the audit trail; if
-- its log reappears in the new branch the same row is revived, so it is never credited twice.
ALTER TABLE credits ADD COLUMN reverted BIGINT NOT NULL DEFAULT 0;

-- The last Transaction Safety evaluation (JSON): status, checks, when.
ALTER TABLE payments ADD COLUMN safety TEXT;

CREATE TABLE threshold_overrides (
    chain_id   BIGINT PRIMARY KEY NOT NULL,
    threshold  BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE threshold_history (
    id            BIGSERIAL PRIMARY KEY,
    chain_id      BIGINT NOT NULL,
    old_threshold BIGINT NOT NULL,
    new_threshold BIGINT NOT NULL,
    requested     BIGINT NOT NULL,
    changed_by    TEXT NOT NULL,
    changed_at    BIGINT NOT NULL
);
CREATE INDEX threshold_history_changed ON threshold_history (changed_at);

CREATE TABLE reorgs (
    id               BIGSERIAL PRIMARY KEY,
    chain_id         BIGINT NOT NULL,
    from_block       BIGINT NOT NULL,
    ancestor_block   BIGINT NOT NULL,
    depth            BIGINT NOT NULL,
    reverted_credits BIGINT NOT NULL,
    detected_at      BIGINT NOT NULL
);
