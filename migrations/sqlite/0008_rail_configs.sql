-- Which chains and tokens a seller's store, or one of its templates, accepts (SQLite). An empty
-- list leaves that dimension open. A template is used only when it opts out of the store default.
CREATE TABLE rail_configs (
    scope            TEXT NOT NULL CHECK (scope IN ('store', 'template')),
    config_key       TEXT NOT NULL,
    use_shop_default BIGINT NOT NULL,
    allowed_chains   TEXT NOT NULL,
    allowed_tokens   TEXT NOT NULL,
    updated_by       TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (scope, config_key)
);
