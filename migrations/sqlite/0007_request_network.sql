-- The Request Network rail (SQLite): every payment gets a payee, a salt and the payment reference
-- computed from them; credits that came through the fee proxy keep the reference and the fee.
ALTER TABLE payments ADD COLUMN rn_payee TEXT;
ALTER TABLE payments ADD COLUMN payment_reference TEXT;
ALTER TABLE payments ADD COLUMN salt TEXT;
CREATE UNIQUE INDEX payments_reference ON payments (payment_reference);

ALTER TABLE credits ADD COLUMN payment_reference TEXT;
ALTER TABLE credits ADD COLUMN fee_amount TEXT;
ALTER TABLE credits ADD COLUMN fee_address TEXT;
