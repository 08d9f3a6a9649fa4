-- 0003: the disk cap. When the store is over its cap, the data of routine
-- events is removed (gateway.EventType.Routine); data_hash keeps SHA-256 of
-- the removed data so the hash chain, which covers that digest, still
-- verifies. NULL means the event has its data. The cursor of the redaction
-- lives in meta ('redacted_through').
ALTER TABLE events ADD COLUMN data_hash BLOB;
