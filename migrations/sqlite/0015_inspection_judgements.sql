-- Judgements of single inspections (docs/review.md): whoever may see a finished inspection
-- (its owner, admins, those it is shared with) judges its verdict and explanation as a run's
-- items are judged, one judgement per person; an edit names the version it was made from and
-- the version it replaces goes to the history.

CREATE TABLE inspection_judgements (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    reviewer_id INTEGER NOT NULL REFERENCES users(id),
    -- An upload has no label that could be wrong: right or wrong only.
    verdict     TEXT    NOT NULL CHECK (verdict IN ('right', 'wrong')),
    explanation TEXT    NOT NULL CHECK (explanation IN ('correct', 'partly', 'wrong')),
    score       INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    tags        TEXT    NOT NULL DEFAULT '',
    comment     TEXT    NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    fixed_explanation TEXT CHECK (length(fixed_explanation) <= 4000),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (job_id, reviewer_id)
);

CREATE TABLE inspection_judgement_history (
    judgement_id INTEGER NOT NULL REFERENCES inspection_judgements(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    verdict      TEXT    NOT NULL,
    explanation  TEXT    NOT NULL,
    score        INTEGER NOT NULL,
    tags         TEXT    NOT NULL,
    comment      TEXT    NOT NULL,
    fixed_explanation TEXT,
    written_at   INTEGER NOT NULL,
    PRIMARY KEY (judgement_id, version)
);
