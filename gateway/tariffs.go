package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// The current tariff: the version new sessions start under. Open sessions
// keep the version they started under (Session.TariffVersion, every
// version stored by Tariffs). The cloud replaces the current tariff with a
// signed tariff update (SetTariff); the pointer is durable. At Open the
// config's tariff is compared with what the store has seen: a version
// seen before (it was current once, or the cloud sent it) leaves the
// stored current tariff in force; a version never seen is a freshly
// deployed config, and it wins.

// EvTariffCurrent records that a tariff version became current.
const EvTariffCurrent EventType = "tariff.current"

// SetTariff makes t the tariff new sessions start under, durably: the
// version is stored (versions are immutable: different content under a
// stored version is a Conflict) and the store's current-tariff pointer
// moves to it, with a tariff.current event. Open sessions keep theirs.
func (g *Gateway) SetTariff(ctx context.Context, t *tariff.Tariff) error {
	doc, err := checkTariff(t)
	if err != nil {
		return err
	}
	if err := g.update(ctx, func(tx Tx, rec *recorder) error {
		return g.setTariffTx(tx, rec, t, doc, "")
	}); err != nil {
		return fmt.Errorf("set tariff %s: %w", t.Version, err)
	}
	g.useTariff(t)
	return nil
}

// checkTariff validates a tariff and encodes it as stored.
func checkTariff(t *tariff.Tariff) ([]byte, error) {
	if t == nil || t.Version == "" {
		return nil, Errorf(Invalid, "a tariff needs a version")
	}
	if errs := t.Validate(); len(errs) > 0 {
		return nil, Errorf(Invalid, "tariff %s: %v", t.Version, errors.Join(errs...))
	}
	doc, err := json.Marshal(t)
	if err != nil {
		return nil, Errorf(Invalid, "encode tariff %s: %v", t.Version, err)
	}
	return doc, nil
}

// setTariffTx stores t and points the store at it, in tx. The caller calls
// useTariff after the commit. source names who set it ("" for a direct
// call, "cloud:<message id>").
func (g *Gateway) setTariffTx(tx Tx, rec *recorder, t *tariff.Tariff, doc []byte, source string) error {
	prev, err := tx.CurrentTariffVersion()
	if err != nil {
		return err
	}
	if err := tx.PutTariff(t.Version, doc); err != nil {
		return err
	}
	if err := tx.SetCurrentTariffVersion(t.Version); err != nil {
		return err
	}
	data := map[string]any{"version": t.Version, "previous": prev, "currency": t.Currency}
	if source != "" {
		data["source"] = source
	}
	return rec.add(tx, g.clock.Now(), EvTariffCurrent, data)
}

// useTariff makes t current in memory (after the commit that stored it).
func (g *Gateway) useTariff(t *tariff.Tariff) {
	g.mu.Lock()
	g.tariffs[t.Version] = t
	g.current = t
	g.mu.Unlock()
}

// openTariff runs in Open's transaction: it applies the rule above and
// returns the tariff to make current (useTariff, after the commit).
func (g *Gateway) openTariff(tx Tx) (*tariff.Tariff, error) {
	cfg := g.site.Tariff
	doc, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode tariff %s: %w", cfg.Version, err)
	}
	_, err = tx.Tariff(cfg.Version)
	seen := err == nil
	if err != nil && KindOf(err) != NotFound {
		return nil, err
	}
	cur, err := tx.CurrentTariffVersion()
	if err != nil {
		return nil, err
	}
	if seen && cur != "" && cur != cfg.Version {
		t, err := g.tariffFor(tx, cur)
		if err != nil {
			return nil, fmt.Errorf("restore current tariff: %w", err)
		}
		return t, nil
	}
	if !seen {
		if err := tx.PutTariff(cfg.Version, doc); err != nil {
			return nil, err
		}
	}
	if cur != cfg.Version {
		if err := tx.SetCurrentTariffVersion(cfg.Version); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}
