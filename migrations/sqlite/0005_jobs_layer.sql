-- The typed jobs layer: who queued a job (a user, the command line, the server itself), how
-- many times a runner took it (a job that keeps killing the server fails for good after 3),
-- when it was last taken (round-robin across users within a lane), and versioned JSON configs.

ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'user'
    CHECK (origin IN ('user', 'cli', 'system'));
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claimed_at INTEGER;
CREATE INDEX jobs_state ON jobs(state, kind);

-- Configurations are now {"version": 1, "config": ...}. JSON ones are wrapped here; training
-- configs were TOML and are read as such once (the runner still accepts that form).
UPDATE jobs SET config = json_object('version', 1, 'config', json(config))
    WHERE kind IN ('eval', 'inspect', 'import') AND json_valid(config);
