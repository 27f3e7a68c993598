-- One notification per consumed order event: the unique event id is what makes a redelivery
-- (at-least-once buses redeliver) a no-op instead of a second notification.
CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    user_id     uuid NOT NULL,
    order_id    uuid NOT NULL,
    kind        text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    -- The trace the event continued (W3C traceparent), for finding the checkout behind it.
    traceparent text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);

CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id);
