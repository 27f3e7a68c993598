CREATE TABLE orders (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'shipped', 'delivered', 'cancelled')),
    idempotency_key  text NOT NULL,
    request_hash     text NOT NULL,
    from_cart        boolean NOT NULL,
    currency         text NOT NULL,
    total_amount     bigint NOT NULL CHECK (total_amount >= 0),
    failure_reason   text,
    -- The answer given for this key, replayed verbatim on a repeat.
    response_status  integer,
    response_body    jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);

CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);
CREATE INDEX orders_pending ON orders (updated_at) WHERE status = 'pending';

CREATE TABLE order_items (
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id   uuid NOT NULL,
    name         text NOT NULL,
    unit_amount  bigint NOT NULL CHECK (unit_amount >= 0),
    quantity     integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

-- Transactional outbox: written in the same transaction as the status change it describes,
-- published to a Redis stream by the relay, never lost and never invented.
CREATE TABLE order_events (
    id            bigserial PRIMARY KEY,
    order_id      uuid NOT NULL,
    event_type    text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX order_events_unpublished ON order_events (id) WHERE published_at IS NULL;
