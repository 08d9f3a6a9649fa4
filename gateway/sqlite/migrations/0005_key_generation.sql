-- 0005: a generation number for key_states and revocations. Triggers add 1
-- for every row inserted, updated or deleted in either table, whoever
-- writes it (this process, a CLI in another one, the sqlite3 shell), in the
-- writer's own transaction. The in-memory copy of both tables (keycache.go)
-- is used only while its generation equals this one, so it can never serve
-- a state the database no longer holds.
CREATE TABLE key_generation (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
) STRICT;

INSERT INTO key_generation (id, gen) VALUES (1, 0);

CREATE TRIGGER key_states_insert_gen AFTER INSERT ON key_states
BEGIN
	UPDATE key_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER key_states_update_gen AFTER UPDATE ON key_states
BEGIN
	UPDATE key_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER key_states_delete_gen AFTER DELETE ON key_states
BEGIN
	UPDATE key_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER revocations_insert_gen AFTER INSERT ON revocations
BEGIN
	UPDATE key_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER revocations_update_gen AFTER UPDATE ON revocations
BEGIN
	UPDATE key_generation SET gen = gen + 1 WHERE id = 1;
END;

CREATE TRIGGER revocations_delete_gen AFTER DELETE ON revocations
BEGIN
	UPDATE key_generation SET gen = gen + 1 WHERE id = 1;
END;
