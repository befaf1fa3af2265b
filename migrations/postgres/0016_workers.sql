-- PostgreSQL form of migrations/sqlite/0016_workers.sql (the same tables; see docs/design.md).
-- Worker nodes (docs/design.md, "Worker leases"): processes that run jobs without serving pages. A job a
-- worker claims holds a lease the worker renews by heartbeat; a job whose lease ran out (its
-- worker vanished) goes back to the queue and resumes on another worker.
CREATE TABLE workers (
    name       TEXT    PRIMARY KEY,
    device     TEXT    NOT NULL,
    -- Lane names, comma-separated.
    lanes      TEXT    NOT NULL,
    -- Host name and process id.
    host       TEXT    NOT NULL,
    -- Unix time in milliseconds.
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

-- The worker that runs (or last ran) a job; NULL for the web server's own lanes and the
-- command line.
ALTER TABLE jobs ADD COLUMN worker TEXT;
-- Unix time in milliseconds when the running job's lease ends; NULL when it has none.
ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
CREATE INDEX jobs_lease ON jobs(state, lease_until);
