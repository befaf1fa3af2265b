-- PostgreSQL form of migrations/sqlite/0013_job_ids_never_reused.sql (the same tables; see docs/design.md).
-- Job ids are never given twice: pages, review shares, kept exports and cached reports name
-- runs by id. This holds the highest id ever given; store::jobs inserts high + 1, and an
-- insert that names no id takes the next one (SQLite's rowid does that there).
CREATE TABLE job_id_high (
    one  BIGINT PRIMARY KEY CHECK (one = 1),
    high BIGINT NOT NULL
);
INSERT INTO job_id_high (one, high) SELECT 1, COALESCE(MAX(id), 0) FROM jobs;
CREATE FUNCTION next_job_id() RETURNS BIGINT LANGUAGE sql AS $$
    UPDATE job_id_high SET high = high + 1 RETURNING high
$$;
ALTER TABLE jobs ALTER COLUMN id SET DEFAULT next_job_id();
CREATE FUNCTION job_id_high_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE job_id_high SET high = GREATEST(high, NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER job_id_high_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION job_id_high_raise();
