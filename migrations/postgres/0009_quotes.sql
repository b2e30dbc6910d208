-- Oracle quotes (PostgreSQL): the USD price, the feed round it came from and the settlement amount
-- an intent was given.
CREATE TABLE quotes (
    id                   TEXT PRIMARY KEY,
    payment_id           TEXT NOT NULL REFERENCES payments (id),
    chain_id             BIGINT NOT NULL,
    token_symbol         TEXT NOT NULL,
    usd_amount           TEXT NOT NULL,
    price                TEXT NOT NULL,
    price_decimals       BIGINT NOT NULL,
    feed                 TEXT NOT NULL,
    round_id             TEXT NOT NULL,
    price_updated_at     BIGINT NOT NULL,
    settle_amount        TEXT NOT NULL,
    depeg_adjustment_bps BIGINT NOT NULL,
    rounding_bps         BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX quotes_payment ON quotes (payment_id, created_at);
