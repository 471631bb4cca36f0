// socket_table.go owns stackdrill_sockets: the stack's sockets as struct stackdrill_socket
// entries (fd, addresses, Linux TCP state, queues, tcp_info) for /netstat and /ss. Besides the
// script's open fds it lists every TCP endpoint the stack still has registered without one:
// connections in SYN_RECV waiting for accept, and closed ones still in LAST_ACK or TIME_WAIT.
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
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// listedSocket is one row of the socket table before it is written out.
type listedSocket struct {
	fd       int
	family   int
	protocol int
	endpoint tcpip.Endpoint
}

// listSockets returns the open fds' sockets in fd order, then the fd-less TCP endpoints.
func (run *adapter) listSockets() []listedSocket {
	fds, files := run.sockets.snapshot()
	var listed []listedSocket
	seen := make(map[tcpip.Endpoint]bool)
	for i, file := range files {
		if file.endpoint == nil {
			continue
		}
		listed = append(listed, listedSocket{fd: fds[i], family: file.family, protocol: file.protocol, endpoint: file.endpoint})
		seen[file.endpoint] = true
	}
	for _, registered := range run.stack.RegisteredEndpoints() {
		endpoint, isEndpoint := registered.(tcpip.Endpoint)
		if !isEndpoint || seen[endpoint] {
			continue
		}
		seen[endpoint] = true
		if endpoint.Info().(*stack.TransportEndpointInfo).TransProto != tcp.ProtocolNumber {
			continue
		}
		family := C.AF_INET
		if local, err := endpoint.GetLocalAddress(); err == nil && len(local.Addr) == 16 {
			family = C.AF_INET6
		}
		listed = append(listed, listedSocket{fd: -1, family: family, protocol: C.IPPROTO_TCP, endpoint: endpoint})
	}
	return listed
}

// fillSocketEntry describes one socket in entry.
func (run *adapter) fillSocketEntry(socket listedSocket, entry *C.struct_stackdrill_socket) {
	*entry = C.struct_stackdrill_socket{}
	entry.fd = C.int(socket.fd)
	entry.family = C.int(socket.family)
	entry.protocol = C.int(socket.protocol)
	endpoint := socket.endpoint
	copyAddress := func(destination *[16]C.uchar, address tcpip.Address) {
		for i := 0; i < len(address) && i < 16; i++ {
			destination[i] = C.uchar(address[i])
		}
	}
	if local, err := endpoint.GetLocalAddress(); err == nil {
		copyAddress(&entry.local_ip, local.Addr)
		entry.local_port = C.ushort(local.Port)
	}
	if remote, err := endpoint.GetRemoteAddress(); err == nil {
		copyAddress(&entry.remote_ip, remote.Addr)
		entry.remote_port = C.ushort(remote.Port)
	}
	if received, err := endpoint.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
		entry.recv_queue = C.uint(received)
	}
	if queued, err := endpoint.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
		entry.send_queue = C.uint(queued)
	}
	if socket.protocol == C.IPPROTO_TCP {
		entry.state = C.int(linuxTCPState(endpoint))
		var congestion tcpip.CongestionControlOption
		if err := endpoint.GetSockOpt(&congestion); err == nil {
			for i := 0; i < len(congestion) && i < 15; i++ {
				entry.congestion[i] = C.char(congestion[i])
			}
		}
		info := tcpInfo(endpoint)
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
	listed := run.listSockets()
	if out != nil && max > 0 {
		entries := unsafe.Slice(out, int(max))
		for i, socket := range listed {
			if i >= int(max) {
				break
			}
			run.fillSocketEntry(socket, &entries[i])
		}
	}
	return C.int(len(listed))
}
