-- Derived destinations as custody sees them (PostgreSQL): the last balance read from the chain and
-- what sweeps moved out. One destination per payment.
CREATE TABLE destination_state (
    payment_id   TEXT PRIMARY KEY NOT NULL REFERENCES payments (id),
    balance      TEXT NOT NULL,
    refreshed_at BIGINT NOT NULL,
    sweep_count  BIGINT NOT NULL DEFAULT 0,
    total_swept  TEXT NOT NULL DEFAULT '0',
    swept_at     BIGINT
);
CREATE INDEX payments_destination ON payments (destination);
