-- Human review of evaluation runs (docs/review.md): a run's queue settings, who may review it,
-- every judgement with its edit history, and QA annotations verified by a person.

CREATE TABLE review_queues (
    job_id      INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    judgements  INTEGER NOT NULL DEFAULT 1 CHECK (judgements BETWEEN 1 AND 5),
    overlap     REAL    NOT NULL DEFAULT 0.2 CHECK (overlap >= 0 AND overlap <= 1),
    queue_order TEXT    NOT NULL DEFAULT 'wrong_first'
                CHECK (queue_order IN ('wrong_first', 'uncertain_first', 'random')),
    seed        INTEGER NOT NULL DEFAULT 0,
    -- Every signed-in user may review, besides those named in review_shares.
    open_to_all INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE review_shares (
    job_id    INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    shared_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, user_id)
);
CREATE INDEX review_shares_user ON review_shares(user_id);

CREATE TABLE judgements (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL,
    image_id    INTEGER NOT NULL,
    prompt      TEXT    NOT NULL,
    reviewer_id INTEGER NOT NULL REFERENCES users(id),
    verdict     TEXT    NOT NULL CHECK (verdict IN ('right', 'wrong', 'label_wrong')),
    explanation TEXT    NOT NULL CHECK (explanation IN ('correct', 'partly', 'wrong')),
    score       INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    -- Tag names, comma-separated, in order (review::Judgement::tags_text).
    tags        TEXT    NOT NULL DEFAULT '',
    comment     TEXT    NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    -- "Fix & accept": the reviewer's corrected explanation, beside the model's.
    fixed_explanation TEXT CHECK (length(fixed_explanation) <= 4000),
    -- Bumped by every edit; an edit names the version it was made from.
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    FOREIGN KEY (job_id, image_id, prompt)
        REFERENCES predictions(job_id, image_id, prompt) ON DELETE CASCADE,
    UNIQUE (job_id, image_id, prompt, reviewer_id)
);
CREATE INDEX judgements_reviewer ON judgements(reviewer_id, updated_at);

-- Earlier versions of a judgement, written by the edit that replaced them.
CREATE TABLE judgement_history (
    judgement_id INTEGER NOT NULL REFERENCES judgements(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    verdict      TEXT    NOT NULL,
    explanation  TEXT    NOT NULL,
    score        INTEGER NOT NULL,
    tags         TEXT    NOT NULL,
    comment      TEXT    NOT NULL,
    fixed_explanation TEXT,
    -- When this version was written (the judgement's updated_at then).
    written_at   INTEGER NOT NULL,
    PRIMARY KEY (judgement_id, version)
);

-- Who verified a generated_verified answer, when, and from which judgement it came.
ALTER TABLE qa ADD COLUMN verified_by INTEGER REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE qa ADD COLUMN verified_at INTEGER;
ALTER TABLE qa ADD COLUMN from_judgement INTEGER REFERENCES judgements(id) ON DELETE SET NULL;
