// epoll.go owns epoll instances: epoll_create, epoll_ctl and epoll_wait over the stack's
// sockets, level- or edge-triggered (EPOLLET: an fd is reported again only after its socket
// signalled a new event), with EPOLLONESHOT.
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

/*
#include <sys/epoll.h>
#include "shim.h"
*/
import "C"

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/waiter"
)

// epollSet is one epoll instance: the fds it watches.
type epollSet struct {
	mu       sync.Mutex
	watching map[int]*epollInterest
}

// epollInterest is one watched fd.
type epollInterest struct {
	events uint32
	data   uint64
	// signalled is set by the socket's queue when one of the events happens (and when the
	// interest is added or modified, as Linux checks readiness then); edge-triggered interests
	// are reported only then. Atomic: the queue calls back with its own lock held.
	signalled atomic.Bool
	// disabled is set after an EPOLLONESHOT report, until EPOLL_CTL_MOD.
	disabled bool
	file     *socketFile
	entry    waiter.Entry
}

// listen registers the interest on its socket's queue, marked signalled.
func (interest *epollInterest) listen() {
	interest.signalled.Store(true)
	interest.entry = waiter.NewFunctionEntry(interest.waitedEvents(), func(waiter.EventMask) {
		interest.signalled.Store(true)
	})
	interest.file.queue.EventRegister(&interest.entry)
}

// waitedEvents is what an interest's events ask the socket for (errors and hang-ups always).
func (interest *epollInterest) waitedEvents() waiter.EventMask {
	return waiter.EventMask(interest.events&0xffff) | alwaysReported
}

//export gvisorEpollCreate
func gvisorEpollCreate(handle C.uintptr_t, size C.int, errnoOut *C.int) C.int {
	run, ok := requireAdapter(handle, errnoOut)
	if !ok {
		return -1
	}
	if size <= 0 {
		return fail(errnoOut, errnoEINVAL)
	}
	set := &epollSet{watching: make(map[int]*epollInterest)}
	return C.int(run.sockets.add(&socketFile{epoll: set, queue: &waiter.Queue{}}))
}

// lookupEpoll finds the epoll instance of epfd, or fails (EBADF; EINVAL when epfd is a socket).
func lookupEpoll(handle C.uintptr_t, epfd C.int, errnoOut *C.int) (*adapter, *epollSet, bool) {
	run, ok := requireAdapter(handle, errnoOut)
	if !ok {
		return nil, nil, false
	}
	file := run.sockets.get(epfd)
	if file == nil || file.epoll == nil {
		*errnoOut = errnoEBADF
		if file != nil {
			*errnoOut = errnoEINVAL
		}
		return nil, nil, false
	}
	return run, file.epoll, true
}

//export gvisorEpollCtl
func gvisorEpollCtl(handle C.uintptr_t, epfd C.int, operation C.int, fd C.int, events C.uint32_t, data C.uint64_t, errnoOut *C.int) C.int {
	run, set, ok := lookupEpoll(handle, epfd, errnoOut)
	if !ok {
		return -1
	}
	file := run.sockets.get(fd)
	if file == nil {
		return fail(errnoOut, errnoEBADF)
	}
	if file.endpoint == nil {
		return fail(errnoOut, errnoEINVAL)
	}
	set.mu.Lock()
	defer set.mu.Unlock()
	interest, watched := set.watching[int(fd)]
	switch operation {
	case C.EPOLL_CTL_ADD:
		if watched {
			return fail(errnoOut, errnoEEXIST)
		}
		interest = &epollInterest{events: uint32(events), data: uint64(data), file: file}
		interest.listen()
		set.watching[int(fd)] = interest
	case C.EPOLL_CTL_MOD:
		if !watched {
			return fail(errnoOut, errnoENOENT)
		}
		interest.events, interest.data, interest.disabled = uint32(events), uint64(data), false
		file.queue.EventUnregister(&interest.entry)
		interest.listen()
	case C.EPOLL_CTL_DEL:
		if !watched {
			return fail(errnoOut, errnoENOENT)
		}
		file.queue.EventUnregister(&interest.entry)
		delete(set.watching, int(fd))
	default:
		return fail(errnoOut, errnoEINVAL)
	}
	return 0
}

// collect fills masks and datas with the ready interests, in fd order, and returns how many.
func (set *epollSet) collect(masks []C.uint32_t, datas []C.uint64_t) int {
	set.mu.Lock()
	defer set.mu.Unlock()
	fds := make([]int, 0, len(set.watching))
	for fd := range set.watching {
		fds = append(fds, fd)
	}
	sort.Ints(fds)
	count := 0
	for _, fd := range fds {
		if count == len(masks) {
			break
		}
		interest := set.watching[fd]
		if interest.disabled {
			continue
		}
		signalled := interest.signalled.Swap(false)
		if interest.events&C.EPOLLET != 0 && !signalled {
			continue
		}
		ready := interest.file.endpoint.Readiness(interest.waitedEvents()) & interest.waitedEvents()
		if ready == 0 {
			continue
		}
		masks[count], datas[count] = C.uint32_t(ready), C.uint64_t(interest.data)
		count++
		if interest.events&C.EPOLLONESHOT != 0 {
			interest.disabled = true
		}
	}
	return count
}

// queues are the wait queues of the watched sockets.
func (set *epollSet) queues() []queueEvents {
	set.mu.Lock()
	defer set.mu.Unlock()
	var waits []queueEvents
	for _, interest := range set.watching {
		waits = append(waits, queueEvents{interest.file.queue, interest.waitedEvents()})
	}
	return waits
}

//export gvisorEpollWait
func gvisorEpollWait(handle C.uintptr_t, epfd C.int, masksOut *C.uint32_t, datasOut *C.uint64_t, maxEvents C.int, timeoutMillis C.int, errnoOut *C.int) C.int {
	run, set, ok := lookupEpoll(handle, epfd, errnoOut)
	if !ok {
		return -1
	}
	if maxEvents <= 0 {
		return fail(errnoOut, errnoEINVAL)
	}
	masks := unsafe.Slice(masksOut, int(maxEvents))
	datas := unsafe.Slice(datasOut, int(maxEvents))
	if ready := set.collect(masks, datas); ready > 0 || timeoutMillis == 0 {
		return C.int(ready)
	}
	var deadline <-chan time.Time
	if timeoutMillis > 0 {
		deadline = time.After(time.Duration(timeoutMillis) * time.Millisecond)
	}
	ready := 0
	run.blockUntil(set.queues(), deadline, func() bool {
		ready = set.collect(masks, datas)
		return ready > 0
	})
	return C.int(ready)
}
