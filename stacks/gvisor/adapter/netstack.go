// netstack.go owns one gVisor netstack per script run: its creation on the virtual clock, the
// link (link/channel) that carries raw IP packets to and from stackdrill, the test network's
// addresses and routes, and moving time with the stack settled between timers. It exports the
// stack-side entry points (init, free, netdev, clock, stackdrill_poll, network setup).
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/bufferv2"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the one NIC of every stack: the link to stackdrill.
const nicID tcpip.NICID = 1

// defaultMTU is the link's MTU until stackdrill_network_setup says otherwise.
const defaultMTU = 1500

// outboundPacket is one IP packet the stack sent, stamped with the virtual time it left.
type outboundPacket struct {
	bytes     []byte
	sentMicro int64
}

// adapter is one script run's stack and sockets.
type adapter struct {
	clock *virtualClock
	stack *stack.Stack
	link  *channel.Endpoint

	outboundMu sync.Mutex
	outbound   []outboundPacket

	// polled is set by the first stackdrill_poll. Without it (upstream packetdrill, which
	// busy-polls gettimeofday after each usleep) every gettimeofday moves time by 1 µs.
	polled atomic.Bool
	// calledBeforePoll is set by any call but network setup made before the first poll.
	calledBeforePoll atomic.Bool
	// drivenPolling is decided at the first poll: when nothing else came before it, stackdrill
	// drives the polling, so netdev_send only queues, usleep only moves the clock, and
	// stackdrill_poll does the work (packets in, due timers, settling).
	drivenPolling atomic.Bool

	inboundMu sync.Mutex
	// inbound holds the peer's packets queued by netdev_send under driven polling.
	inbound [][]byte

	sockets *socketTable
	// wakeups counts blocked socket calls the stack has woken that have not run again yet.
	wakeups *wakeups
}

// adapters maps the userdata handles given to C to their adapters (C must not keep Go pointers).
var adapters = struct {
	sync.Mutex
	byHandle   map[uintptr]*adapter
	lastHandle uintptr
}{byHandle: make(map[uintptr]*adapter)}

func adapterOf(handle C.uintptr_t) *adapter {
	adapters.Lock()
	defer adapters.Unlock()
	return adapters.byHandle[uintptr(handle)]
}

func newAdapter() *adapter {
	clock := newVirtualClock()
	random := newSeededRandom()
	netstack := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{newTCPWithOneProcessor, udp.NewProtocol},
		Clock:              clock,
		RandSource:         random,
		SecureRNG:          random,
	})
	// SACK is on by default in Linux and off in gVisor: turn it on. Everything else keeps
	// gVisor's defaults (docs/stacks.md lists how they differ from Linux's).
	sackEnabled := tcpip.TCPSACKEnabled(true)
	netstack.SetTransportProtocolOption(tcp.ProtocolNumber, &sackEnabled)
	run := &adapter{clock: clock, stack: netstack, sockets: newSocketTable(), wakeups: newWakeups()}
	run.attachLink(defaultMTU)
	// Until told the test network, take every address and route everything to the link, so
	// the library also works where nobody calls stackdrill_network_setup (upstream packetdrill).
	netstack.SetPromiscuousMode(nicID, true)
	netstack.SetSpoofing(nicID, true)
	netstack.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	return run
}

// attachLink (re)creates the NIC on a new channel link with this MTU (a channel endpoint's
// MTU is fixed when it is made). Only before the first socket: the NIC's addresses go with it.
func (run *adapter) attachLink(mtu uint32) {
	if run.link != nil {
		run.stack.RemoveNIC(nicID)
		run.link.Close()
	}
	run.link = channel.New(512, mtu, "")
	run.link.AddNotify(run)
	if err := run.stack.CreateNIC(nicID, run.link); err != nil {
		panic(err.String())
	}
}

// WriteNotify implements channel.Notification: it takes each packet the stack writes to the
// link at once, stamped with the current virtual time.
func (run *adapter) WriteNotify() {
	for {
		packet := run.link.Read()
		if packet.IsNil() {
			return
		}
		view := packet.ToView()
		bytes := append([]byte(nil), view.AsSlice()...)
		view.Release()
		packet.DecRef()
		run.outboundMu.Lock()
		run.outbound = append(run.outbound, outboundPacket{bytes: bytes, sentMicro: run.clock.Now().UnixMicro()})
		run.outboundMu.Unlock()
	}
}

// settle returns once the stack has done all the work due at the current virtual time: the
// callbacks of zero-delay timers, the TCP processor goroutines' queues (pausing TCP's
// dispatcher waits until each processor is idle), and the blocked socket calls it woke.
func (run *adapter) settle() {
	tcpProtocol := run.stack.TransportProtocolInstance(tcp.ProtocolNumber)
	// Twice: a blocked call the first round wakes may hand the stack more work (a read that
	// opens the window sends an update).
	for round := 0; round < 2; round++ {
		run.clock.waitImmediateCallbacks()
		tcpProtocol.Pause()
		tcpProtocol.Resume()
		run.wakeups.waitNone()
	}
	run.clock.waitImmediateCallbacks()
}

// advance moves virtual time forward by delay, stopping at each timer on the way to run it at
// its due time and let the stack settle.
func (run *adapter) advance(delay time.Duration) {
	target := run.clock.Now().Add(delay)
	for run.clock.fireEarliestUntil(target) {
		run.settle()
	}
	run.clock.moveTo(target)
	run.settle()
}

//export gvisorNewAdapter
func gvisorNewAdapter(flags *C.char) C.uintptr_t {
	_ = flags
	run := newAdapter()
	adapters.Lock()
	defer adapters.Unlock()
	adapters.lastHandle++
	adapters.byHandle[adapters.lastHandle] = run
	return C.uintptr_t(adapters.lastHandle)
}

//export gvisorFree
func gvisorFree(handle C.uintptr_t) {
	run := adapterOf(handle)
	if run == nil {
		return
	}
	adapters.Lock()
	delete(adapters.byHandle, uintptr(handle))
	adapters.Unlock()
	run.sockets.closeAll()
	run.stack.Close()
	run.link.Close()
}

//export gvisorNetdevSend
func gvisorNetdevSend(handle C.uintptr_t, buf unsafe.Pointer, count C.size_t) C.int {
	run := adapterOf(handle)
	if run == nil || count == 0 {
		return 1
	}
	run.noteCall()
	bytes := C.GoBytes(buf, C.int(count))
	if header.IPVersion(bytes) != header.IPv4Version && header.IPVersion(bytes) != header.IPv6Version {
		return 1
	}
	if run.drivenPolling.Load() {
		run.inboundMu.Lock()
		run.inbound = append(run.inbound, bytes)
		run.inboundMu.Unlock()
		return 0
	}
	run.inject(bytes)
	run.settle()
	return 0
}

// inject hands one IP packet from the peer to the stack.
func (run *adapter) inject(bytes []byte) {
	protocol := tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
	if header.IPVersion(bytes) == header.IPv6Version {
		protocol = ipv6.ProtocolNumber
	}
	packet := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: bufferv2.MakeWithData(bytes)})
	run.link.InjectInbound(protocol, packet)
	packet.DecRef()
}

// noteCall records that a call other than network setup came; before the first poll, that
// means nobody drives the polling.
func (run *adapter) noteCall() {
	if !run.polled.Load() {
		run.calledBeforePoll.Store(true)
	}
}

//export gvisorNetdevReceive
func gvisorNetdevReceive(handle C.uintptr_t, buf unsafe.Pointer, count *C.size_t, timeMicros *C.longlong) C.int {
	run := adapterOf(handle)
	if run == nil {
		return 1
	}
	run.outboundMu.Lock()
	defer run.outboundMu.Unlock()
	if len(run.outbound) == 0 {
		return 1
	}
	packet := run.outbound[0]
	if len(packet.bytes) > int(*count) {
		return 1
	}
	run.outbound = run.outbound[1:]
	copy(unsafe.Slice((*byte)(buf), len(packet.bytes)), packet.bytes)
	*count = C.size_t(len(packet.bytes))
	*timeMicros = C.longlong(packet.sentMicro)
	return 0
}

//export gvisorUsleep
func gvisorUsleep(handle C.uintptr_t, micros C.useconds_t) C.int {
	run := adapterOf(handle)
	if run == nil {
		return -1
	}
	run.noteCall()
	if run.drivenPolling.Load() {
		run.clock.moveTo(run.clock.Now().Add(time.Duration(micros) * time.Microsecond))
		return 0
	}
	run.advance(time.Duration(micros) * time.Microsecond)
	return 0
}

//export gvisorNowMicros
func gvisorNowMicros(handle C.uintptr_t) C.longlong {
	run := adapterOf(handle)
	if run == nil {
		return 0
	}
	run.noteCall()
	if !run.polled.Load() {
		run.advance(time.Microsecond)
	}
	return C.longlong(run.clock.Now().UnixMicro())
}

//export gvisorStackPoll
func gvisorStackPoll(handle C.uintptr_t, nextTimerMicros *C.longlong) C.int {
	run := adapterOf(handle)
	if run == nil {
		return 1
	}
	if !run.polled.Swap(true) && !run.calledBeforePoll.Load() {
		run.drivenPolling.Store(true)
	}
	run.inboundMu.Lock()
	inbound := run.inbound
	run.inbound = nil
	run.inboundMu.Unlock()
	for _, bytes := range inbound {
		run.inject(bytes)
	}
	// Timers due by now (under driven polling stackdrill moves the clock up to the next one
	// reported, so they run at their due time, or late after a polling hang).
	run.advance(0)
	*nextTimerMicros = -1
	if deadline, armed := run.clock.nextDeadline(); armed {
		wait := deadline.Sub(run.clock.Now()).Microseconds()
		if wait < 0 {
			wait = 0
		}
		*nextTimerMicros = C.longlong(wait)
	}
	return 0
}

//export gvisorNetworkSetup
func gvisorNetworkSetup(handle C.uintptr_t, family C.int, localIP unsafe.Pointer, prefixLen C.int, gatewayIP unsafe.Pointer, mtu C.int) C.int {
	run := adapterOf(handle)
	if run == nil {
		return 1
	}
	protocol, addressLen, emptySubnet := tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber), 4, header.IPv4EmptySubnet
	if family == C.AF_INET6 {
		protocol, addressLen, emptySubnet = ipv6.ProtocolNumber, 16, header.IPv6EmptySubnet
	}
	if mtu > 0 && uint32(mtu) != run.link.MTU() {
		run.attachLink(uint32(mtu))
	}
	local := tcpip.Address(C.GoBytes(localIP, C.int(addressLen)))
	gateway := tcpip.Address(C.GoBytes(gatewayIP, C.int(addressLen)))
	withPrefix := tcpip.AddressWithPrefix{Address: local, PrefixLen: int(prefixLen)}
	if err := run.stack.AddProtocolAddress(nicID, tcpip.ProtocolAddress{Protocol: protocol, AddressWithPrefix: withPrefix}, stack.AddressProperties{}); err != nil {
		return 1
	}
	routes := []tcpip.Route{
		{Destination: withPrefix.Subnet(), NIC: nicID},
		{Destination: emptySubnet, Gateway: gateway, NIC: nicID},
	}
	if protocol == ipv4.ProtocolNumber {
		routes = append(routes, tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: nicID})
	} else {
		routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: nicID})
	}
	run.stack.SetRouteTable(routes)
	run.stack.SetPromiscuousMode(nicID, false)
	run.stack.SetSpoofing(nicID, false)
	return 0
}

// minimumProcessors is the fewest Go processors (Ps) the runtime gets. With one, a blocked
// socket call the stack wakes waits for a free processor, which only the runtime's monitor
// thread hands it, milliseconds later; with two it runs at once.
const minimumProcessors = 2

func init() {
	if runtime.GOMAXPROCS(0) < minimumProcessors {
		runtime.GOMAXPROCS(minimumProcessors)
	}
}

// newTCPWithOneProcessor is tcp.NewProtocol with GOMAXPROCS at 1 while it runs: gVisor's TCP
// starts one processor goroutine per Go processor, and with one, segments are handled in one
// order on every run and settling wakes one goroutine.
func newTCPWithOneProcessor(netstack *stack.Stack) stack.TransportProtocol {
	previous := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(previous)
	return tcp.NewProtocol(netstack)
}

func main() {}
