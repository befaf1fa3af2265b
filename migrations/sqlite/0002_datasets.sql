-- Imported datasets: images (files under <data>/datasets/<dataset id>/), QA annotations, splits.

CREATE TABLE images (
    id         INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    category   TEXT    NOT NULL,
    split      TEXT    NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    label      TEXT    NOT NULL CHECK (label IN ('good', 'logical', 'structural')),
    -- The path in the source dataset, which QA files refer to.
    rel_path   TEXT    NOT NULL,
    -- Stored file name under the dataset's folder, e.g. images/17.png.
    file       TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    has_mask   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (dataset_id, rel_path)
);
CREATE INDEX images_browse ON images(dataset_id, category, split, label);

CREATE TABLE qa (
    id       INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    question TEXT    NOT NULL,
    answer   TEXT    NOT NULL,
    source   TEXT    NOT NULL CHECK (source IN ('manual', 'generated_verified')),
    anomaly  TEXT,
    -- JSON {"x","y","w","h"} in image-relative units.
    region   TEXT
);
CREATE INDEX qa_image ON qa(image_id);

CREATE TABLE splits (
    id         INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    seed       INTEGER NOT NULL,
    fraction   REAL    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (dataset_id, key)
);

CREATE TABLE split_members (
    split_id INTEGER NOT NULL REFERENCES splits(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    side     TEXT    NOT NULL CHECK (side IN ('train', 'test')),
    PRIMARY KEY (split_id, image_id)
);
