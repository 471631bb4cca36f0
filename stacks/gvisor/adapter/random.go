// random.go owns the stack's randomness: a fixed seed instead of the host's entropy, so that
// ports, initial sequence numbers and timestamps are the same on every run and a script's
// --verbose output can be compared between runs, as on the smoltcp adapter.
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

import (
	"math/rand"
	"sync"
)

// randomSeed seeds every run's stack.
const randomSeed = 0x5eed

// seededRandom is a math/rand source safe for concurrent use, also readable as bytes; gVisor
// takes it both as its RandSource and as its SecureRNG.
type seededRandom struct {
	mu     sync.Mutex
	source rand.Source64
}

func newSeededRandom() *seededRandom {
	return &seededRandom{source: rand.NewSource(randomSeed).(rand.Source64)}
}

// Int63 implements rand.Source.
func (random *seededRandom) Int63() int64 {
	random.mu.Lock()
	defer random.mu.Unlock()
	return random.source.Int63()
}

// Uint64 implements rand.Source64.
func (random *seededRandom) Uint64() uint64 {
	random.mu.Lock()
	defer random.mu.Unlock()
	return random.source.Uint64()
}

// Seed implements rand.Source.
func (random *seededRandom) Seed(seed int64) {
	random.mu.Lock()
	defer random.mu.Unlock()
	random.source.Seed(seed)
}

// Read implements io.Reader with bytes of the same sequence.
func (random *seededRandom) Read(bytes []byte) (int, error) {
	random.mu.Lock()
	defer random.mu.Unlock()
	for i := range bytes {
		bytes[i] = byte(random.source.Uint64())
	}
	return len(bytes), nil
}
