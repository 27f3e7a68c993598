-- Products of the catalog. Deletion is soft (deleted_at) so that a deleted demo product is not
-- brought back by the idempotent seed on the next start; every read filters deleted rows out.
CREATE TABLE products (
    id           uuid PRIMARY KEY,
    name         text        NOT NULL,
    description  text        NOT NULL,
    category     text        NOT NULL,
    price_amount bigint      NOT NULL CHECK (price_amount >= 0),
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    image_url    text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);

CREATE INDEX products_live_newest ON products (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_live_category ON products (category) WHERE deleted_at IS NULL;
CREATE INDEX products_live_price ON products (price_amount, id) WHERE deleted_at IS NULL;
CREATE INDEX products_live_name ON products (lower(name), id) WHERE deleted_at IS NULL;
