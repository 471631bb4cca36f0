// sockets.go owns the script's sockets: the fd table (fds from 3, lowest free first, as a
// process's), socket addresses in and out of C, blocking on a socket's waiter.Queue, and the
// socket-call entry points (socket … shutdown, fcntl, ioctl, poll).
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

/*
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"sync"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/syserr"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// firstSocketFd is the first fd handed out: 0-2 are a process's stdio.
const firstSocketFd = 3

// maxListenBacklog caps listen's backlog, as Linux's default net.core.somaxconn (4096).
const maxListenBacklog = 4096

// Linux errno values the adapter returns itself.
const (
	errnoENOENT      = 2
	errnoEBADF       = 9
	errnoEAGAIN      = 11
	errnoEFAULT      = 14
	errnoEEXIST      = 17
	errnoEINVAL      = 22
	errnoENOTSOCK    = 88
	errnoENOPROTOOPT = 92
	errnoEPROTONOSUP = 93
	errnoEOPNOTSUPP  = 95
	errnoEAFNOSUPP   = 97
	errnoEINPROGRESS = 115
)

// socketFile is one open fd: a socket (a gVisor endpoint and the queue it signals readiness
// on), or an epoll instance (epoll set, endpoint nil).
type socketFile struct {
	epoll       *epollSet
	endpoint    tcpip.Endpoint
	queue       *waiter.Queue
	family      int
	socketType  int
	protocol    int
	nonBlocking bool
}

// socketTable maps fds to sockets.
type socketTable struct {
	mu   sync.Mutex
	byFd map[int]*socketFile
}

func newSocketTable() *socketTable {
	return &socketTable{byFd: make(map[int]*socketFile)}
}

// add stores file under the lowest free fd and returns it.
func (table *socketTable) add(file *socketFile) int {
	table.mu.Lock()
	defer table.mu.Unlock()
	fd := firstSocketFd
	for table.byFd[fd] != nil {
		fd++
	}
	table.byFd[fd] = file
	return fd
}

func (table *socketTable) get(fd C.int) *socketFile {
	table.mu.Lock()
	defer table.mu.Unlock()
	return table.byFd[int(fd)]
}

func (table *socketTable) remove(fd C.int) *socketFile {
	table.mu.Lock()
	defer table.mu.Unlock()
	file := table.byFd[int(fd)]
	delete(table.byFd, int(fd))
	return file
}

// snapshot returns the open sockets ordered by fd.
func (table *socketTable) snapshot() ([]int, []*socketFile) {
	table.mu.Lock()
	defer table.mu.Unlock()
	var fds []int
	var files []*socketFile
	for fd := firstSocketFd; len(fds) < len(table.byFd); fd++ {
		if file := table.byFd[fd]; file != nil {
			fds = append(fds, fd)
			files = append(files, file)
		}
	}
	return fds, files
}

func (table *socketTable) closeAll() {
	table.mu.Lock()
	files := table.byFd
	table.byFd = make(map[int]*socketFile)
	table.mu.Unlock()
	for _, file := range files {
		file.release()
	}
}

// release closes what the fd held.
func (file *socketFile) release() {
	if file.endpoint != nil {
		file.endpoint.Close()
	}
}

// errnoOf is the Linux errno for a netstack error.
func errnoOf(err tcpip.Error) C.int {
	return C.int(syserr.TranslateNetstackError(err).ToLinux())
}

// fail stores errno for the C side and returns -1.
func fail(errnoOut *C.int, errno C.int) C.int {
	*errnoOut = errno
	return -1
}

// requireAdapter finds the run of handle, or fails with EBADF.
func requireAdapter(handle C.uintptr_t, errnoOut *C.int) (*adapter, bool) {
	run := adapterOf(handle)
	if run == nil {
		*errnoOut = errnoEBADF
		return nil, false
	}
	run.noteCall()
	return run, true
}

// lookup finds fd's socket in run, or fails with EBADF.
func lookup(handle C.uintptr_t, fd C.int, errnoOut *C.int) (*adapter, *socketFile, bool) {
	run, ok := requireAdapter(handle, errnoOut)
	if !ok {
		return nil, nil, false
	}
	file := run.sockets.get(fd)
	if file == nil {
		*errnoOut = errnoEBADF
		return run, nil, false
	}
	if file.epoll != nil {
		*errnoOut = errnoENOTSOCK
		return run, nil, false
	}
	return run, file, true
}

// lookupWithAddress finds fd's socket and reads the sockaddr given with it, or fails.
func lookupWithAddress(handle C.uintptr_t, fd C.int, addr unsafe.Pointer, addrLen C.socklen_t, errnoOut *C.int) (*adapter, *socketFile, tcpip.FullAddress, C.int, bool) {
	run, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return nil, nil, tcpip.FullAddress{}, 0, false
	}
	address, family, errno := socketAddress(addr, addrLen)
	if errno != 0 {
		*errnoOut = errno
		return nil, nil, tcpip.FullAddress{}, family, false
	}
	return run, file, address, family, true
}

// waitFor blocks until attempt stops saying "would block", sleeping on the socket's queue for
// events between attempts.
func (run *adapter) waitFor(file *socketFile, events waiter.EventMask, attempt func() tcpip.Error) tcpip.Error {
	var err tcpip.Error
	run.blockUntil([]queueEvents{{file.queue, events}}, nil, func() bool {
		err = attempt()
		_, wouldBlock := err.(*tcpip.ErrWouldBlock)
		return !wouldBlock
	})
	return err
}

// socketAddress reads a sockaddr_in or sockaddr_in6 from C into a FullAddress.
func socketAddress(addr unsafe.Pointer, addrLen C.socklen_t) (tcpip.FullAddress, C.int, C.int) {
	if addr == nil || addrLen < 2 {
		return tcpip.FullAddress{}, 0, errnoEINVAL
	}
	raw := C.GoBytes(addr, C.int(addrLen))
	family := C.int(binary.LittleEndian.Uint16(raw[0:2]))
	switch family {
	case C.AF_INET:
		if len(raw) < 8 {
			return tcpip.FullAddress{}, family, errnoEINVAL
		}
		return fullAddress(raw[4:8], raw[2:4]), family, 0
	case C.AF_INET6:
		if len(raw) < 24 {
			return tcpip.FullAddress{}, family, errnoEINVAL
		}
		return fullAddress(raw[8:24], raw[2:4]), family, 0
	case C.AF_UNSPEC:
		return tcpip.FullAddress{}, family, 0
	}
	return tcpip.FullAddress{}, family, errnoEAFNOSUPP
}

func fullAddress(address []byte, port []byte) tcpip.FullAddress {
	full := tcpip.FullAddress{Port: binary.BigEndian.Uint16(port)}
	if !bytes.Equal(address, make([]byte, len(address))) {
		full.Addr = tcpip.Address(address)
	}
	return full
}

// writeSocketAddress writes address as the socket family's sockaddr into addr, truncated to
// *addrLen, and sets *addrLen to its full length, as accept and recvfrom do.
func writeSocketAddress(family int, address tcpip.FullAddress, addr unsafe.Pointer, addrLen *C.socklen_t) {
	if addr == nil || addrLen == nil {
		return
	}
	var raw []byte
	if family == C.AF_INET6 {
		raw = make([]byte, 28)
		binary.LittleEndian.PutUint16(raw[0:2], C.AF_INET6)
		binary.BigEndian.PutUint16(raw[2:4], address.Port)
		ip := []byte(address.Addr)
		if len(ip) == 4 {
			ip = append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, ip...)
		}
		copy(raw[8:24], ip)
	} else {
		raw = make([]byte, 16)
		binary.LittleEndian.PutUint16(raw[0:2], C.AF_INET)
		binary.BigEndian.PutUint16(raw[2:4], address.Port)
		copy(raw[4:8], []byte(address.Addr))
	}
	room := int(*addrLen)
	if room > len(raw) {
		room = len(raw)
	}
	copy(unsafe.Slice((*byte)(addr), room), raw[:room])
	*addrLen = C.socklen_t(len(raw))
}

// networkOfDomain is the network protocol of each socket domain the stack has.
var networkOfDomain = map[C.int]tcpip.NetworkProtocolNumber{
	C.AF_INET:  ipv4.ProtocolNumber,
	C.AF_INET6: ipv6.ProtocolNumber,
}

//export gvisorSocket
func gvisorSocket(handle C.uintptr_t, domain, socketType, protocol C.int, errnoOut *C.int) C.int {
	run, ok := requireAdapter(handle, errnoOut)
	if !ok {
		return -1
	}
	network, known := networkOfDomain[domain]
	if !known {
		return fail(errnoOut, errnoEAFNOSUPP)
	}
	baseType := socketType &^ (C.SOCK_NONBLOCK | C.SOCK_CLOEXEC)
	var transport tcpip.TransportProtocolNumber
	switch {
	case baseType == C.SOCK_STREAM && (protocol == 0 || protocol == C.IPPROTO_TCP):
		transport, protocol = tcp.ProtocolNumber, C.IPPROTO_TCP
	case baseType == C.SOCK_DGRAM && (protocol == 0 || protocol == C.IPPROTO_UDP):
		transport, protocol = udp.ProtocolNumber, C.IPPROTO_UDP
	default:
		return fail(errnoOut, errnoEPROTONOSUP)
	}
	queue := &waiter.Queue{}
	endpoint, err := run.stack.NewEndpoint(transport, network, queue)
	if err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	return C.int(run.sockets.add(&socketFile{
		endpoint:    endpoint,
		queue:       queue,
		family:      int(domain),
		socketType:  int(baseType),
		protocol:    int(protocol),
		nonBlocking: socketType&C.SOCK_NONBLOCK != 0,
	}))
}

//export gvisorBind
func gvisorBind(handle C.uintptr_t, fd C.int, addr unsafe.Pointer, addrLen C.socklen_t, errnoOut *C.int) C.int {
	_, file, address, _, ok := lookupWithAddress(handle, fd, addr, addrLen, errnoOut)
	if !ok {
		return -1
	}
	if err := file.endpoint.Bind(address); err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	return 0
}

//export gvisorListen
func gvisorListen(handle C.uintptr_t, fd C.int, backlog C.int, errnoOut *C.int) C.int {
	_, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	// As gVisor's own listen(2) does (sentry/syscalls/linux/sys_socket.go): cap the backlog
	// as Linux's somaxconn does, and accept one more than it, as Linux does. Without the +1
	// a listen(fd, 1) answers its first SYN with a SYN cookie, whose MSS is rounded down.
	if backlog < 0 || backlog > maxListenBacklog {
		backlog = maxListenBacklog
	}
	if err := file.endpoint.Listen(int(backlog) + 1); err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	return 0
}

//export gvisorAccept
func gvisorAccept(handle C.uintptr_t, fd C.int, addr unsafe.Pointer, addrLen *C.socklen_t, errnoOut *C.int) C.int {
	run, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	var peer tcpip.FullAddress
	var accepted tcpip.Endpoint
	var acceptedQueue *waiter.Queue
	attempt := func() tcpip.Error {
		var err tcpip.Error
		accepted, acceptedQueue, err = file.endpoint.Accept(&peer)
		return err
	}
	var err tcpip.Error
	if file.nonBlocking {
		err = attempt()
	} else {
		err = run.waitFor(file, waiter.ReadableEvents, attempt)
	}
	if err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	writeSocketAddress(file.family, peer, addr, addrLen)
	return C.int(run.sockets.add(&socketFile{
		endpoint:   accepted,
		queue:      acceptedQueue,
		family:     file.family,
		socketType: file.socketType,
		protocol:   file.protocol,
	}))
}

//export gvisorConnect
func gvisorConnect(handle C.uintptr_t, fd C.int, addr unsafe.Pointer, addrLen C.socklen_t, errnoOut *C.int) C.int {
	run, file, address, family, ok := lookupWithAddress(handle, fd, addr, addrLen, errnoOut)
	if !ok {
		return -1
	}
	if family == C.AF_UNSPEC {
		if err := file.endpoint.Disconnect(); err != nil {
			return fail(errnoOut, errnoOf(err))
		}
		return 0
	}
	err := file.endpoint.Connect(address)
	if _, started := err.(*tcpip.ErrConnectStarted); !started {
		if err != nil {
			return fail(errnoOut, errnoOf(err))
		}
		return 0
	}
	if file.nonBlocking {
		return fail(errnoOut, errnoEINPROGRESS)
	}
	run.blockUntil([]queueEvents{{file.queue, waiter.WritableEvents | alwaysReported}}, nil, func() bool {
		return file.endpoint.Readiness(waiter.WritableEvents|alwaysReported) != 0
	})
	if err := file.endpoint.LastError(); err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	return 0
}

//export gvisorRecvfrom
func gvisorRecvfrom(handle C.uintptr_t, fd C.int, buf unsafe.Pointer, length C.size_t, flags C.int, srcAddr unsafe.Pointer, addrLen *C.socklen_t, errnoOut *C.int) C.ssize_t {
	run, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	var destination []byte
	if buf != nil {
		destination = unsafe.Slice((*byte)(buf), int(length))
	} else {
		destination = make([]byte, int(length))
	}
	options := tcpip.ReadOptions{Peek: flags&C.MSG_PEEK != 0, NeedRemoteAddr: srcAddr != nil}
	var result tcpip.ReadResult
	attempt := func() tcpip.Error {
		writer := tcpip.SliceWriter(destination)
		var err tcpip.Error
		result, err = file.endpoint.Read(&writer, options)
		return err
	}
	var err tcpip.Error
	if file.nonBlocking || flags&C.MSG_DONTWAIT != 0 {
		err = attempt()
	} else {
		err = run.waitFor(file, waiter.ReadableEvents, attempt)
	}
	switch err.(type) {
	case nil:
	case *tcpip.ErrClosedForReceive:
		return 0
	default:
		return C.ssize_t(fail(errnoOut, errnoOf(err)))
	}
	if srcAddr != nil {
		writeSocketAddress(file.family, result.RemoteAddr, srcAddr, addrLen)
	}
	return C.ssize_t(result.Count)
}

//export gvisorSendto
func gvisorSendto(handle C.uintptr_t, fd C.int, buf unsafe.Pointer, length C.size_t, flags C.int, destAddr unsafe.Pointer, addrLen C.socklen_t, errnoOut *C.int) C.ssize_t {
	run, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	data := make([]byte, int(length))
	if buf != nil {
		copy(data, unsafe.Slice((*byte)(buf), int(length)))
	}
	var options tcpip.WriteOptions
	if destAddr != nil {
		address, _, errno := socketAddress(destAddr, addrLen)
		if errno != 0 {
			return C.ssize_t(fail(errnoOut, errno))
		}
		options.To = &address
	}
	nonBlocking := file.nonBlocking || flags&C.MSG_DONTWAIT != 0
	sent := 0
	for {
		var written int64
		attempt := func() tcpip.Error {
			var err tcpip.Error
			written, err = file.endpoint.Write(bytes.NewReader(data[sent:]), options)
			return err
		}
		var err tcpip.Error
		if nonBlocking || sent > 0 && file.socketType != C.SOCK_STREAM {
			err = attempt()
		} else {
			err = run.waitFor(file, waiter.WritableEvents, attempt)
		}
		if err != nil {
			if sent > 0 {
				return C.ssize_t(sent)
			}
			return C.ssize_t(fail(errnoOut, errnoOf(err)))
		}
		sent += int(written)
		if sent >= len(data) || nonBlocking || file.socketType != C.SOCK_STREAM {
			return C.ssize_t(sent)
		}
	}
}

//export gvisorClose
func gvisorClose(handle C.uintptr_t, fd C.int, errnoOut *C.int) C.int {
	run, ok := requireAdapter(handle, errnoOut)
	if !ok {
		return -1
	}
	file := run.sockets.remove(fd)
	if file == nil {
		return fail(errnoOut, errnoEBADF)
	}
	file.release()
	return 0
}

// shutdownFlagsOf is what each shutdown(2) `how` shuts.
var shutdownFlagsOf = map[C.int]tcpip.ShutdownFlags{
	C.SHUT_RD:   tcpip.ShutdownRead,
	C.SHUT_WR:   tcpip.ShutdownWrite,
	C.SHUT_RDWR: tcpip.ShutdownRead | tcpip.ShutdownWrite,
}

//export gvisorShutdown
func gvisorShutdown(handle C.uintptr_t, fd C.int, how C.int, errnoOut *C.int) C.int {
	_, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	flags, known := shutdownFlagsOf[how]
	if !known {
		return fail(errnoOut, errnoEINVAL)
	}
	if err := file.endpoint.Shutdown(flags); err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	return 0
}

//export gvisorFcntl
func gvisorFcntl(handle C.uintptr_t, fd C.int, command C.int, argument C.int, errnoOut *C.int) C.int {
	_, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	switch command {
	case C.F_GETFL:
		if file.nonBlocking {
			return C.O_RDWR | C.O_NONBLOCK
		}
		return C.O_RDWR
	case C.F_SETFL:
		file.nonBlocking = argument&C.O_NONBLOCK != 0
		return 0
	case C.F_GETFD, C.F_SETFD:
		return 0
	}
	return fail(errnoOut, errnoEINVAL)
}

//export gvisorIoctl
func gvisorIoctl(handle C.uintptr_t, fd C.int, request C.ulong, argument *C.int, errnoOut *C.int) C.int {
	_, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	if argument == nil {
		return fail(errnoOut, errnoEFAULT)
	}
	var option tcpip.SockOptInt
	switch request {
	case C.SIOCINQ:
		option = tcpip.ReceiveQueueSizeOption
	case C.SIOCOUTQ:
		option = tcpip.SendQueueSizeOption
	case C.FIONBIO:
		file.nonBlocking = *argument != 0
		return 0
	default:
		return fail(errnoOut, errnoEINVAL)
	}
	value, err := file.endpoint.GetSockOptInt(option)
	if err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	*argument = C.int(value)
	return 0
}

// alwaysReported are the poll events reported whether asked for or not.
const alwaysReported = waiter.EventErr | waiter.EventHUp

//export gvisorPoll
func gvisorPoll(handle C.uintptr_t, fds *C.struct_pollfd, count C.nfds_t, timeoutMillis C.int, errnoOut *C.int) C.int {
	run, ok := requireAdapter(handle, errnoOut)
	if !ok {
		return -1
	}
	entries := unsafe.Slice(fds, int(count))
	scan := func() int {
		ready := 0
		for i := range entries {
			entry := &entries[i]
			entry.revents = 0
			if entry.fd < 0 {
				continue
			}
			file := run.sockets.get(entry.fd)
			if file == nil {
				entry.revents = C.POLLNVAL
			} else if file.endpoint != nil {
				asked := waiter.EventMask(uint16(entry.events)) | alwaysReported
				entry.revents = C.short(file.endpoint.Readiness(asked) & asked)
			}
			if entry.revents != 0 {
				ready++
			}
		}
		return ready
	}
	if ready := scan(); ready > 0 || timeoutMillis == 0 {
		return C.int(ready)
	}
	var waits []queueEvents
	for i := range entries {
		if file := run.sockets.get(entries[i].fd); file != nil && file.endpoint != nil {
			waits = append(waits, queueEvents{file.queue, waiter.EventMask(uint16(entries[i].events)) | alwaysReported})
		}
	}
	var deadline <-chan time.Time
	if timeoutMillis > 0 {
		deadline = time.After(time.Duration(timeoutMillis) * time.Millisecond)
	}
	ready := 0
	run.blockUntil(waits, deadline, func() bool {
		ready = scan()
		return ready > 0
	})
	return C.int(ready)
}
