-- The trace context of the request that caused the event, carried to the consumers.
ALTER TABLE order_events ADD COLUMN traceparent text;
