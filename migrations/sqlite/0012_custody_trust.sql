-- Where money may go comes from admins only. A store's payout address is the seller wallet a
-- release without `to` pays; a template belongs to one seller and applies to that seller's
-- intents only; a payment remembers which metadata keys an admin wrote, so that a buyer's
-- re-pointed intent cannot overwrite them.
ALTER TABLE rail_configs ADD COLUMN payout_address TEXT;
ALTER TABLE rail_configs ADD COLUMN seller_id TEXT;
ALTER TABLE payments ADD COLUMN admin_metadata_keys TEXT NOT NULL DEFAULT '[]';

-- The sweep cron's on/off state, shared by every instance: any instance starts or stops it, the
-- instances following a chain sweep that chain's destinations.
CREATE TABLE sweep_cron (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    running    BIGINT NOT NULL,
    started_at BIGINT,
    last_run   TEXT,
    updated_at BIGINT NOT NULL
);
