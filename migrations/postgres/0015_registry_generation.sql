-- Registry reloads: an admin's reload on any instance bumps the generation, and every instance
-- that sees a newer one re-reads its registry files and applies them in its role.
CREATE TABLE registry_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL,
    reloaded_at BIGINT NOT NULL,
    reloaded_by TEXT
);
INSERT INTO registry_generation (id, generation, reloaded_at, reloaded_by) VALUES (1, 0, 0, NULL);
