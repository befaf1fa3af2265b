-- Long jobs (training, evaluation): what they report while running, a cancel request the
-- worker checks between steps, and what they produced.
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN result TEXT;

-- Progress events in order (JSON), kept so a page opened later can redraw the whole curve.
CREATE TABLE job_events (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    data   TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
);
