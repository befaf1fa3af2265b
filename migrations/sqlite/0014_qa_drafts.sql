-- Drafted QA annotations (docs/review.md): a model writes an image's answer from what the
-- dataset knows (its product, label and, with a mask, where the defect is); people accept,
-- edit or reject each draft, or write their own answer instead.

CREATE TABLE qa_drafts (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    question    TEXT    NOT NULL,
    -- The model's answer as it wrote it, and its raw reply.
    draft       TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    -- The prompt the model was given (it names the label and the region hint), and the
    -- defect's name and region it told, which the annotation made from the draft keeps.
    prompt      TEXT    NOT NULL,
    anomaly     TEXT,
    region      TEXT,
    created_at  INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'edited', 'rejected', 'manual')),
    -- What became the annotation (accepted: the draft; edited and manual: a person's text).
    answer      TEXT    CHECK (length(answer) <= 4000),
    reason      TEXT    CHECK (length(reason) <= 2000),
    decided_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    decided_at  INTEGER,
    -- Bumped by every decision; a decision names the version it was made from.
    version     INTEGER NOT NULL DEFAULT 1,
    -- The QA annotation it became.
    qa_id       INTEGER REFERENCES qa(id) ON DELETE SET NULL,
    UNIQUE (job_id, image_id)
);
CREATE INDEX qa_drafts_status ON qa_drafts(job_id, status, id);

-- Earlier decisions of a draft, written by the decision that replaced them.
CREATE TABLE qa_draft_history (
    draft_id   INTEGER NOT NULL REFERENCES qa_drafts(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    answer     TEXT,
    reason     TEXT,
    decided_by INTEGER,
    decided_at INTEGER,
    PRIMARY KEY (draft_id, version)
);

-- An annotation written from a draft names it.
ALTER TABLE qa ADD COLUMN from_draft INTEGER REFERENCES qa_drafts(id) ON DELETE SET NULL;
