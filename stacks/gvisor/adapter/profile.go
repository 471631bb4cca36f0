// profile.go owns the stack's profile of script defines (stackdrill_profile_defines): the
// values where gVisor's netstack legitimately differs from Linux, named for portable scripts.
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

/*
#include "shim.h"
*/
import "C"

import "unsafe"

// profileDefines are the "NAME=VALUE" lines, in output order.
var profileDefines = []string{
	"GVISOR=1",
	// A new connection's congestion window in segments: gVisor starts at 10 (IW10), as Linux.
	"INITIAL_CWND=10",
	// gVisor always doubles its SYN retransmission timeout from 1 s.
	"EXPONENTIAL_SYN_BACKOFF=`true`",
	// Keep-alive probes: an old sequence number and no data (0:0(0)), as Linux.
	"KEEPALIVE_PROBE_END=0",
	"KEEPALIVE_PROBE_LEN=0",
	// Zero-window probes: an old sequence number and no data (0:0(0)), as Linux.
	"ZERO_WINDOW_PROBE_START=0",
	"ZERO_WINDOW_PROBE_END=0",
	"ZERO_WINDOW_PROBE_LEN=0",
}

func renderProfile() string {
	text := ""
	for _, line := range profileDefines {
		text += line + "\n"
	}
	return text
}

//export gvisorProfileDefines
func gvisorProfileDefines(flags *C.char, buf *C.char, length C.size_t) C.int {
	_ = flags
	text := renderProfile()
	if buf != nil && length > 0 {
		room := int(length) - 1
		if room > len(text) {
			room = len(text)
		}
		destination := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(length))
		copy(destination, text[:room])
		destination[room] = 0
	}
	return C.int(len(text))
}
