-- PostgreSQL form of migrations/sqlite/0006_remote_models.sql (the same tables; see docs/design.md).
-- Remote models: a registered model may be served by an OpenAI-compatible server. `remote` holds
-- its settings as JSON (base URL, the server's model id, where the API key comes from, limits,
-- prices); the key itself is never stored here. Predictions record what a remote reply cost and
-- who answered: time to the first token, the provider's model id and system fingerprint.

ALTER TABLE models ADD COLUMN remote TEXT CHECK (remote IS NULL OR remote::jsonb IS NOT NULL);
ALTER TABLE predictions ADD COLUMN first_token_ms BIGINT;
ALTER TABLE predictions ADD COLUMN served_by TEXT;
ALTER TABLE predictions ADD COLUMN fingerprint TEXT;
