-- Job ids are never given twice: pages, review shares, kept exports and cached reports name
-- runs by id, and SQLite hands a deleted newest row's id to the next insert. This holds the
-- highest id ever given; store::jobs inserts high + 1.
CREATE TABLE job_id_high (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    high INTEGER NOT NULL
);
INSERT INTO job_id_high (one, high) SELECT 1, COALESCE(MAX(id), 0) FROM jobs;
CREATE TRIGGER job_id_high_insert AFTER INSERT ON jobs BEGIN
    UPDATE job_id_high SET high = MAX(high, NEW.id);
END;
