package sqlite

import "github.com/lotgate/lotgate/gateway"

// metaCurrentTariff is the meta_text key of the current tariff version.
const metaCurrentTariff = "current_tariff"

// CurrentTariffVersion returns the version SetCurrentTariffVersion stored
// ("" when none).
func (t *tx) CurrentTariffVersion() (string, error) {
	const op = "read current tariff"
	if err := t.check(op, false); err != nil {
		return "", err
	}
	var v string
	if _, err := t.queryRow(op, "SELECT value FROM meta_text WHERE key = ?", []any{metaCurrentTariff}, &v); err != nil {
		return "", err
	}
	return v, nil
}

// SetCurrentTariffVersion makes a stored tariff version current. A
// version never stored (PutTariff) is NotFound.
func (t *tx) SetCurrentTariffVersion(version string) error {
	const op = "set current tariff"
	if err := t.check(op, true); err != nil {
		return err
	}
	var n int
	if _, err := t.queryRow(op, "SELECT count(*) FROM tariffs WHERE version = ?", []any{version}, &n); err != nil {
		return err
	}
	if n == 0 {
		return notFound("no tariff version %q", version)
	}
	_, err := t.exec(op, "INSERT INTO meta_text (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		metaCurrentTariff, version)
	return err
}

// Interface guards
var _ gateway.CurrentTariff = (*tx)(nil)
