-- Part B and evaluation: prompts users write (the built-in ones live in the code), uploaded
-- images for the Inspect page, and one stored prediction per image and prompt of an
-- evaluation job (its metrics are always recomputed from these rows).

CREATE TABLE prompts (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    text           TEXT    NOT NULL,
    chain_of_image INTEGER NOT NULL DEFAULT 1,
    author_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL
);

-- Files are re-encoded PNGs under <data>/uploads/, named by their SHA-256.
CREATE TABLE uploads (
    id            INTEGER PRIMARY KEY,
    sha256        TEXT    NOT NULL,
    file          TEXT    NOT NULL,
    original_name TEXT    NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    owner_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE predictions (
    job_id        INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    prompt        TEXT    NOT NULL,
    template_id   INTEGER REFERENCES images(id) ON DELETE SET NULL,
    verdict       TEXT    NOT NULL CHECK (verdict IN ('normal', 'anomalous', 'undecided')),
    explanation   TEXT    NOT NULL,
    raw           TEXT    NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    new_tokens    INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    bert_p        REAL,
    bert_r        REAL,
    bert_f1       REAL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (job_id, image_id, prompt)
);
