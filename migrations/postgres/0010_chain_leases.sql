-- Chain leases (PostgreSQL, where several instances share the database): one instance follows a
-- chain at a time, and another takes over once the lease expires unrenewed.
CREATE TABLE chain_leases (
    chain_id    BIGINT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL
);
