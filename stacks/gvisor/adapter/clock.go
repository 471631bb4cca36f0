// clock.go owns the adapter's virtual clock: a tcpip.Clock whose time only moves when the
// adapter advances it, and which can say when its next timer is due (gVisor's own
// faketime.ManualClock cannot), so time can be moved one timer at a time with the stack
// settled in between. SPDX-License-Identifier: MIT OR Apache-2.0

package main

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// clockEpoch is where the virtual clock starts: 2023-11-14T22:13:20Z, as the smoltcp adapter.
var clockEpoch = time.Unix(1_700_000_000, 0)

// virtualClock implements tcpip.Clock on virtual time.
type virtualClock struct {
	mu sync.Mutex
	// now is the current virtual time.
	now time.Time
	// armed holds the timers waiting to fire.
	armed map[*virtualTimer]struct{}
	// armSequence orders timers due at the same instant by when they were armed.
	armSequence uint64
	// immediateCallbacks counts callbacks of timers armed with a zero delay, which run on
	// their own goroutine as a real timer's would (the caller may hold locks they take).
	immediateCallbacks int
	// immediateCallbacksDone is signalled (with mu) when immediateCallbacks drops to zero.
	immediateCallbacksDone *sync.Cond
}

// virtualTimer implements tcpip.Timer on a virtualClock.
type virtualTimer struct {
	clock    *virtualClock
	callback func()
	// firesAt and sequence are valid while the timer is in clock.armed.
	firesAt  time.Time
	sequence uint64
}

var _ tcpip.Clock = (*virtualClock)(nil)

func newVirtualClock() *virtualClock {
	clock := &virtualClock{now: clockEpoch, armed: make(map[*virtualTimer]struct{})}
	clock.immediateCallbacksDone = sync.NewCond(&clock.mu)
	return clock
}

// Now implements tcpip.Clock.Now.
func (clock *virtualClock) Now() time.Time {
	clock.mu.Lock()
	defer clock.mu.Unlock()
	return clock.now
}

// NowMonotonic implements tcpip.Clock.NowMonotonic.
func (clock *virtualClock) NowMonotonic() tcpip.MonotonicTime {
	var start tcpip.MonotonicTime
	return start.Add(clock.Now().Sub(clockEpoch))
}

// AfterFunc implements tcpip.Clock.AfterFunc.
func (clock *virtualClock) AfterFunc(delay time.Duration, callback func()) tcpip.Timer {
	timer := &virtualTimer{clock: clock, callback: callback}
	timer.Reset(delay)
	return timer
}

// Stop implements tcpip.Timer.Stop.
func (timer *virtualTimer) Stop() bool {
	clock := timer.clock
	clock.mu.Lock()
	defer clock.mu.Unlock()
	_, wasArmed := clock.armed[timer]
	delete(clock.armed, timer)
	return wasArmed
}

// Reset implements tcpip.Timer.Reset.
func (timer *virtualTimer) Reset(delay time.Duration) {
	clock := timer.clock
	clock.mu.Lock()
	defer clock.mu.Unlock()
	delete(clock.armed, timer)
	if delay <= 0 {
		clock.immediateCallbacks++
		go func() {
			timer.callback()
			clock.mu.Lock()
			clock.immediateCallbacks--
			if clock.immediateCallbacks == 0 {
				clock.immediateCallbacksDone.Broadcast()
			}
			clock.mu.Unlock()
		}()
		return
	}
	clock.armSequence++
	timer.firesAt = clock.now.Add(delay)
	timer.sequence = clock.armSequence
	clock.armed[timer] = struct{}{}
}

// nextDeadline returns when the earliest armed timer fires, or false when none is armed.
func (clock *virtualClock) nextDeadline() (time.Time, bool) {
	clock.mu.Lock()
	defer clock.mu.Unlock()
	earliest := clock.earliestLocked()
	if earliest == nil {
		return time.Time{}, false
	}
	return earliest.firesAt, true
}

func (clock *virtualClock) earliestLocked() *virtualTimer {
	var earliest *virtualTimer
	for timer := range clock.armed {
		if earliest == nil || timer.firesAt.Before(earliest.firesAt) ||
			(timer.firesAt.Equal(earliest.firesAt) && timer.sequence < earliest.sequence) {
			earliest = timer
		}
	}
	return earliest
}

// fireEarliestUntil moves the clock to the earliest timer due no later than limit and runs
// its callback on the calling goroutine. It returns false when no timer is due by limit.
func (clock *virtualClock) fireEarliestUntil(limit time.Time) bool {
	clock.mu.Lock()
	earliest := clock.earliestLocked()
	if earliest == nil || earliest.firesAt.After(limit) {
		clock.mu.Unlock()
		return false
	}
	delete(clock.armed, earliest)
	if earliest.firesAt.After(clock.now) {
		clock.now = earliest.firesAt
	}
	clock.mu.Unlock()
	earliest.callback()
	return true
}

// moveTo sets the clock to when, never backwards.
func (clock *virtualClock) moveTo(when time.Time) {
	clock.mu.Lock()
	defer clock.mu.Unlock()
	if when.After(clock.now) {
		clock.now = when
	}
}

// waitImmediateCallbacks returns once every zero-delay callback has run.
func (clock *virtualClock) waitImmediateCallbacks() {
	clock.mu.Lock()
	defer clock.mu.Unlock()
	for clock.immediateCallbacks > 0 {
		clock.immediateCallbacksDone.Wait()
	}
}
