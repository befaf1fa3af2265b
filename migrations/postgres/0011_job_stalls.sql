-- PostgreSQL form of migrations/sqlite/0011_job_stalls.sql (the same tables; see docs/design.md).
-- Interruptions in a row without durable progress (a checkpoint or a stored prediction): a
-- job that keeps the server from finishing fails after three of them, while one that moves
-- on between interruptions is resumed as often as it is interrupted.
ALTER TABLE jobs ADD COLUMN stalls BIGINT NOT NULL DEFAULT 0;
