-- PostgreSQL form of migrations/sqlite/0005_jobs_layer.sql (the same tables; see docs/design.md).
-- The typed jobs layer: who queued a job (a user, the command line, the server itself), how
-- many times a runner took it (a job that keeps killing the server fails for good after 3),
-- when it was last taken (round-robin across users within a lane), and versioned JSON configs.

ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'user'
    CHECK (origin IN ('user', 'cli', 'system'));
ALTER TABLE jobs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claimed_at BIGINT;
CREATE INDEX jobs_state ON jobs(state, kind);

-- Configurations are {"version": 1, "config": ...}. SQLite's migration wraps the older form;
-- a PostgreSQL database never held it, so there is nothing to convert here.
