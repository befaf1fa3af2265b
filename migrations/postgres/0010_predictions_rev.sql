-- PostgreSQL form of migrations/sqlite/0010_predictions_rev.sql (the same tables; see docs/design.md).
-- A run's report is cached until its predictions change: every write to them bumps this.
ALTER TABLE jobs ADD COLUMN predictions_rev BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION predictions_rev_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE jobs SET predictions_rev = predictions_rev + 1 WHERE id = OLD.job_id;
        RETURN OLD;
    END IF;
    UPDATE jobs SET predictions_rev = predictions_rev + 1 WHERE id = NEW.job_id;
    RETURN NEW;
END $$;
CREATE TRIGGER predictions_rev AFTER INSERT OR UPDATE OR DELETE ON predictions
    FOR EACH ROW EXECUTE FUNCTION predictions_rev_bump();

-- Reports check explanations against the QA annotations: any change to them bumps 'qa'.
CREATE TABLE revisions (
    name TEXT    PRIMARY KEY,
    rev  BIGINT NOT NULL
);
INSERT INTO revisions (name, rev) VALUES ('qa', 0);
CREATE FUNCTION qa_rev_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE revisions SET rev = rev + 1 WHERE name = 'qa';
    RETURN NULL;
END $$;
CREATE TRIGGER qa_rev AFTER INSERT OR UPDATE OR DELETE ON qa
    FOR EACH ROW EXECUTE FUNCTION qa_rev_bump();
