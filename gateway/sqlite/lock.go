package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/lotgate/lotgate/gateway"
)

// lockFile takes an exclusive advisory lock (flock) on path+".lock" for a
// process that writes the store: a second gateway on the same store would
// interleave its events and decisions with the first's. The lock goes with
// the process, also when it is killed. It returns the file to close to
// release it.
func lockFile(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, gateway.Errorf(gateway.Conflict,
				"store %s is in use by another lotgate process (it holds %s): stop it first", path, name)
		}
		return nil, fmt.Errorf("lock store %s: %w", name, err)
	}
	return f, nil
}
