// clock_test.go checks the virtual clock: time moves only when told, timers fire in due order
// at their due time, and stopped or reset timers behave as tcpip.Timer says.
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

import (
	"testing"
	"time"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	clock := newVirtualClock()
	if !clock.Now().Equal(clockEpoch) {
		t.Fatalf("starts at %v, want %v", clock.Now(), clockEpoch)
	}
	clock.moveTo(clockEpoch.Add(time.Second))
	clock.moveTo(clockEpoch)
	if got := clock.Now().Sub(clockEpoch); got != time.Second {
		t.Fatalf("moved back: %v after the epoch, want 1s", got)
	}
}

func TestTimersFireInOrderAtTheirTime(t *testing.T) {
	clock := newVirtualClock()
	var fired []time.Duration
	record := func() { fired = append(fired, clock.Now().Sub(clockEpoch)) }
	clock.AfterFunc(3*time.Second, record)
	clock.AfterFunc(time.Second, record)
	clock.AfterFunc(2*time.Second, record)
	if next, armed := clock.nextDeadline(); !armed || next.Sub(clockEpoch) != time.Second {
		t.Fatalf("next deadline %v (armed %v), want 1s", next.Sub(clockEpoch), armed)
	}
	limit := clockEpoch.Add(2500 * time.Millisecond)
	for clock.fireEarliestUntil(limit) {
	}
	want := []time.Duration{time.Second, 2 * time.Second}
	if len(fired) != len(want) || fired[0] != want[0] || fired[1] != want[1] {
		t.Fatalf("fired at %v, want %v", fired, want)
	}
}

func TestStopAndReset(t *testing.T) {
	clock := newVirtualClock()
	fired := 0
	timer := clock.AfterFunc(time.Second, func() { fired++ })
	if !timer.Stop() {
		t.Fatal("Stop of an armed timer says it was not armed")
	}
	if timer.Stop() {
		t.Fatal("second Stop says the timer was armed")
	}
	timer.Reset(2 * time.Second)
	for clock.fireEarliestUntil(clockEpoch.Add(time.Hour)) {
	}
	if fired != 1 || clock.Now().Sub(clockEpoch) != 2*time.Second {
		t.Fatalf("fired %d times, clock at %v; want once at 2s", fired, clock.Now().Sub(clockEpoch))
	}
}

func TestZeroDelayTimerRunsOnItsOwnGoroutine(t *testing.T) {
	clock := newVirtualClock()
	done := false
	clock.AfterFunc(0, func() { done = true })
	clock.waitImmediateCallbacks()
	if !done {
		t.Fatal("the zero-delay callback had not run when waitImmediateCallbacks returned")
	}
	if _, armed := clock.nextDeadline(); armed {
		t.Fatal("a zero-delay timer stays armed")
	}
}

func TestProfileEndsEachDefineWithANewline(t *testing.T) {
	text := renderProfile()
	if len(text) == 0 || text[len(text)-1] != '\n' {
		t.Fatalf("profile %q", text)
	}
}
