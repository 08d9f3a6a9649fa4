package modbus

import (
	"cmp"
	"slices"

	"github.com/lotgate/lotgate/drivers/health"
	"github.com/lotgate/lotgate/gateway"
)

// unitKey names one unit ID on a bus. Health is kept per unit: every
// device the unit serves shares it, and a unit offline is skipped by its
// bus's queue until a probe answers.
type unitKey struct {
	bus  string
	unit uint8
}

// healthBook keeps the health of every unit; a unit goes offline after
// its bus's OfflineAfter consecutive failed exchanges.
type healthBook = health.Book[unitKey]

// sortedHealth returns every device's health, sorted by device ID.
func sortedHealth(h *healthBook) []gateway.DeviceHealth {
	out := h.All()
	slices.SortFunc(out, func(a, b gateway.DeviceHealth) int { return cmp.Compare(a.Device, b.Device) })
	return out
}
