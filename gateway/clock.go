package gateway

import "time"

// Clock tells the time. The core never calls time.Now directly, so tests
// inject the time.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
