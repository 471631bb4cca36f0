// blocking.go owns blocking socket calls: waiting on sockets' waiter.Queues, and counting the
// calls the stack has just woken, so that settling the stack also waits for them to run again.
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/waiter"
)

// wakeups counts blocked calls that the stack has notified and that have not yet made their
// next attempt. stackdrill decides whether a blocking call is still blocked by whether its
// thread sleeps; a woken call's thread may sleep a little longer, until Go's scheduler runs
// it, so settle waits for this count to drop to zero first.
type wakeups struct {
	mu      sync.Mutex
	pending int
	none    *sync.Cond
}

func newWakeups() *wakeups {
	counter := &wakeups{}
	counter.none = sync.NewCond(&counter.mu)
	return counter
}

func (counter *wakeups) add(delta int) {
	counter.mu.Lock()
	defer counter.mu.Unlock()
	counter.pending += delta
	if counter.pending == 0 {
		counter.none.Broadcast()
	}
}

// waitNone returns once no woken call is waiting to run again.
func (counter *wakeups) waitNone() {
	counter.mu.Lock()
	defer counter.mu.Unlock()
	for counter.pending > 0 {
		counter.none.Wait()
	}
}

// queueEvents is one queue to wait on and the events that end the wait.
type queueEvents struct {
	queue  *waiter.Queue
	events waiter.EventMask
}

// blockUntil calls done until it returns true, sleeping between calls until one of the queues
// signals its events, or until deadline (nil: none); it returns what done last returned. The
// caller is stackdrill's call worker: waiting on a Go channel parks its thread in a futex,
// which is what stackdrill reads as asleep.
func (run *adapter) blockUntil(waits []queueEvents, deadline <-chan time.Time, done func() bool) bool {
	signalled := make(chan struct{}, 1)
	notify := func(waiter.EventMask) {
		select {
		case signalled <- struct{}{}:
			run.wakeups.add(1)
		default:
		}
	}
	entries := make([]waiter.Entry, len(waits))
	for i, wait := range waits {
		entries[i] = waiter.NewFunctionEntry(wait.events, notify)
		wait.queue.EventRegister(&entries[i])
	}
	defer func() {
		for i, wait := range waits {
			wait.queue.EventUnregister(&entries[i])
		}
		// A signal that came after the last attempt has nobody left to run.
		select {
		case <-signalled:
			run.wakeups.add(-1)
		default:
		}
	}()
	woken := false
	for {
		finished := done()
		if woken {
			run.wakeups.add(-1)
			woken = false
		}
		if finished {
			return true
		}
		select {
		case <-signalled:
			woken = true
		case <-deadline:
			return done()
		}
	}
}
