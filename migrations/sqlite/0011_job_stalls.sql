-- Interruptions in a row without durable progress (a checkpoint or a stored prediction): a
-- job that keeps the server from finishing fails after three of them, while one that moves
-- on between interruptions is resumed as often as it is interrupted.
ALTER TABLE jobs ADD COLUMN stalls INTEGER NOT NULL DEFAULT 0;
