// socket_table.go owns stackdrill_sockets: the stack's sockets as struct stackdrill_socket
// entries (fd, addresses, Linux TCP state, queues, tcp_info) for /netstat and /ss.
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

/*
#include <netinet/in.h>
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// fillSocketEntry describes one open socket in entry.
func fillSocketEntry(fd int, file *socketFile, entry *C.struct_stackdrill_socket) {
	*entry = C.struct_stackdrill_socket{}
	entry.fd = C.int(fd)
	entry.family = C.int(file.family)
	entry.protocol = C.int(file.protocol)
	copyAddress := func(destination *[16]C.uchar, address tcpip.Address) {
		for i := 0; i < len(address) && i < 16; i++ {
			destination[i] = C.uchar(address[i])
		}
	}
	if local, err := file.endpoint.GetLocalAddress(); err == nil {
		copyAddress(&entry.local_ip, local.Addr)
		entry.local_port = C.ushort(local.Port)
	}
	if remote, err := file.endpoint.GetRemoteAddress(); err == nil {
		copyAddress(&entry.remote_ip, remote.Addr)
		entry.remote_port = C.ushort(remote.Port)
	}
	if received, err := file.endpoint.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
		entry.recv_queue = C.uint(received)
	}
	if queued, err := file.endpoint.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
		entry.send_queue = C.uint(queued)
	}
	if file.protocol == C.IPPROTO_TCP {
		entry.state = C.int(linuxTCPState(file.endpoint))
		var congestion tcpip.CongestionControlOption
		if err := file.endpoint.GetSockOpt(&congestion); err == nil {
			for i := 0; i < len(congestion) && i < 15; i++ {
				entry.congestion[i] = C.char(congestion[i])
			}
		}
		info := tcpInfo(file.endpoint)
		for i, b := range info {
			entry.tcp_info[i] = C.uchar(b)
		}
		entry.tcp_info_len = C.uint(len(info))
	}
}

//export gvisorSockets
func gvisorSockets(handle C.uintptr_t, out *C.struct_stackdrill_socket, max C.int) C.int {
	run := adapterOf(handle)
	if run == nil {
		return -1
	}
	fds, files := run.sockets.snapshot()
	if out != nil && max > 0 {
		entries := unsafe.Slice(out, int(max))
		for i := range files {
			if i >= int(max) {
				break
			}
			fillSocketEntry(fds[i], files[i], &entries[i])
		}
	}
	return C.int(len(files))
}
