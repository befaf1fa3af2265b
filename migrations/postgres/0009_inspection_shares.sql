-- PostgreSQL form of migrations/sqlite/0009_inspection_shares.sql (the same tables; see docs/design.md).
-- Inspections and uploads belong to their owner; an owner (or an admin) shares an inspection
-- with chosen users, who then see it, its events and its images (docs/reliability.md).
CREATE TABLE inspection_shares (
    job_id    BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The upload the inspection shows, so the file route can answer without reading configs.
    upload_id BIGINT REFERENCES uploads(id) ON DELETE CASCADE,
    shared_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, user_id)
);
CREATE INDEX inspection_shares_upload ON inspection_shares(upload_id, user_id);
