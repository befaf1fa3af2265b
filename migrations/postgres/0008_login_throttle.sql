-- PostgreSQL form of migrations/sqlite/0008_login_throttle.sql (the same tables; see docs/design.md).
-- Sign-in throttling per (username, client address) and per client address, replacing the
-- per-username lock that let anyone lock an account out (docs/reliability.md, "Sign-in").
DROP TABLE login_failures;

CREATE TABLE login_throttle (
    -- Lower-cased username; '' for the per-address count (usernames are never empty).
    username     TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    failures     BIGINT NOT NULL,
    -- Unix time in milliseconds of the last counted attempt.
    last_failure BIGINT NOT NULL,
    PRIMARY KEY (username, address)
);
CREATE INDEX login_throttle_last ON login_throttle(last_failure);
