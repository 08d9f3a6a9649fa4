package web

import (
	"strconv"
	"sync"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// limiter is a token bucket: rate tokens a second, at most burst saved.
// One bucket for every client together: the gateway's event log and its
// SD card are what it protects, and they are shared.
type limiter struct {
	mu     sync.Mutex
	clock  gateway.Clock
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, clock gateway.Clock) *limiter {
	return &limiter{clock: clock, rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token if there is one.
func (l *limiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	switch {
	case l.last.IsZero():
		l.last = now
	case now.After(l.last): // a clock set back refills nothing
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
