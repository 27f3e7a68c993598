-- Charge attempts (successful or declined) and refunds. Only the card's brand and last four
-- digits are ever stored; the number and the CVC never reach the database.
CREATE TABLE payments (
    id               uuid PRIMARY KEY,
    idempotency_key  text NOT NULL,
    order_id         uuid NOT NULL,
    user_id          uuid NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status           text NOT NULL CHECK (status IN ('succeeded', 'declined', 'refunded')),
    decline_code     text,
    card_brand       text NOT NULL,
    card_last4       text NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'declined') = (decline_code IS NOT NULL))
);

-- One charge per key, however many times and however concurrently it is sent.
CREATE UNIQUE INDEX payments_idempotency_key ON payments (idempotency_key);
-- An order is paid at most once: a second successful charge under another key is refused.
CREATE UNIQUE INDEX payments_one_success_per_order ON payments (order_id)
    WHERE status IN ('succeeded', 'refunded');
CREATE INDEX payments_by_order ON payments (order_id, created_at);

CREATE TABLE refunds (
    id               uuid PRIMARY KEY,
    payment_id       uuid NOT NULL UNIQUE REFERENCES payments (id),
    idempotency_key  text NOT NULL UNIQUE,
    amount           bigint NOT NULL CHECK (amount > 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);
