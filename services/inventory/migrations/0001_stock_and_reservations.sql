-- Stock per product and the reservations holding some of it. The CHECKs are the last line of
-- defence against overselling: a buggy statement fails instead of driving a count negative.
CREATE TABLE stock (
    product_id  uuid PRIMARY KEY,
    available   integer NOT NULL CHECK (available >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
    id          uuid PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('held', 'committed', 'released', 'restocked')),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The sweeper only ever looks for held reservations past their expiry.
CREATE INDEX reservations_held_by_expiry ON reservations (expires_at) WHERE status = 'held';

CREATE TABLE reservation_items (
    reservation_id  uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    product_id      uuid NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);
