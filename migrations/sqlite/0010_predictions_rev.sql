-- A run's report is cached until its predictions change: every write to them bumps this.
ALTER TABLE jobs ADD COLUMN predictions_rev INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER predictions_rev_insert AFTER INSERT ON predictions BEGIN
    UPDATE jobs SET predictions_rev = predictions_rev + 1 WHERE id = NEW.job_id;
END;
CREATE TRIGGER predictions_rev_update AFTER UPDATE ON predictions BEGIN
    UPDATE jobs SET predictions_rev = predictions_rev + 1 WHERE id = NEW.job_id;
END;
CREATE TRIGGER predictions_rev_delete AFTER DELETE ON predictions BEGIN
    UPDATE jobs SET predictions_rev = predictions_rev + 1 WHERE id = OLD.job_id;
END;

-- Reports check explanations against the QA annotations: any change to them bumps 'qa'.
CREATE TABLE revisions (
    name TEXT    PRIMARY KEY,
    rev  INTEGER NOT NULL
);
INSERT INTO revisions (name, rev) VALUES ('qa', 0);
CREATE TRIGGER qa_rev_insert AFTER INSERT ON qa BEGIN
    UPDATE revisions SET rev = rev + 1 WHERE name = 'qa';
END;
CREATE TRIGGER qa_rev_update AFTER UPDATE ON qa BEGIN
    UPDATE revisions SET rev = rev + 1 WHERE name = 'qa';
END;
CREATE TRIGGER qa_rev_delete AFTER DELETE ON qa BEGIN
    UPDATE revisions SET rev = rev + 1 WHERE name = 'qa';
END;
