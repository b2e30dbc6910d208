-- Each claim of a delivery writes a fresh token; an attempt's outcome is written only while its
-- claim's token still stands, so an attempt that outlived its lease cannot overwrite the outcome
-- of the claim that came after it. NULL until first claimed.
ALTER TABLE webhook_deliveries ADD COLUMN claim_token BIGINT;
