-- 0004: the tariff new sessions start under. A tariff update from the cloud
-- makes its version current; the pointer survives a restart (see
-- gateway.Gateway.SetTariff for when the config's tariff wins instead).
-- Text settings, next to the integer ones of meta.
CREATE TABLE meta_text (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
