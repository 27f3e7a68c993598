-- The confirmation e-mail (sent when SMTP_URL is set): when it went out, or why it never will.
-- A redelivered event finds one of them set and sends nothing more.
ALTER TABLE notifications
    ADD COLUMN emailed_at  timestamptz,
    ADD COLUMN email_error text;
