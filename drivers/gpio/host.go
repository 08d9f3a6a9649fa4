package gpio

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	_ "periph.io/x/host/v3/gpioioctl" // the GPIO character device: Pi 4 and Pi 5 on current Raspberry Pi OS
)

var (
	hostOnce sync.Once
	hostErr  error
)

// HostPins resolves a pin name ("GPIO17") on this host's GPIO character
// device. periph's drivers are initialised once, on first use; only the
// character-device driver is loaded (sysfs GPIO is gone from current
// kernels). An unknown name, or any name on a host without
// /dev/gpiochip*, is an error that says so.
func HostPins(name string) (gpio.PinIO, error) {
	hostOnce.Do(func() {
		state, err := driverreg.Init()
		switch {
		case err != nil:
			hostErr = err
		case state != nil && len(state.Loaded) == 0 && len(state.Failed) > 0:
			hostErr = state.Failed[0].Err
		}
	})
	p := gpioreg.ByName(name)
	if p == nil {
		if hostErr != nil {
			return nil, fmt.Errorf("no GPIO pin %q: the GPIO character device is not usable here (%v); is this a Raspberry Pi with /dev/gpiochip*?", name, hostErr)
		}
		return nil, fmt.Errorf("no GPIO pin %q on this host; pins are named like GPIO17 (see gpioinfo)", name)
	}
	return p, nil
}
