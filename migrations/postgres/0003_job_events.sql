-- PostgreSQL form of migrations/sqlite/0003_job_events.sql (the same tables; see docs/design.md).
-- Long jobs (training, evaluation): what they report while running, a cancel request the
-- worker checks between steps, and what they produced.
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN result TEXT;

-- Progress events in order (JSON), kept so a page opened later can redraw the whole curve.
CREATE TABLE job_events (
    job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    data   TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
);
