// socket_options.go owns getsockopt and setsockopt: the options portable scripts use
// (SO_ERROR, keep-alive, TCP_NODELAY, buffer sizes, TCP_INFO in Linux's layout).
// SPDX-License-Identifier: MIT OR Apache-2.0

package main

/*
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "shim.h"
*/
import "C"

import (
	"encoding/binary"
	"reflect"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// tcpInfoLength is how much of Linux's struct tcp_info the adapter fills (up to tcpi_reordering).
const tcpInfoLength = 92

// tcpInfo renders a TCP endpoint's state as Linux's struct tcp_info; fields gVisor does not
// report are 0.
func tcpInfo(endpoint tcpip.Endpoint) []byte {
	info := make([]byte, tcpInfoLength)
	var stats tcpip.TCPInfoOption
	if err := endpoint.GetSockOpt(&stats); err != nil {
		return info
	}
	info[0] = byte(linuxTCPState(endpoint))
	info[1] = byte(stats.CcState)
	micros := func(duration time.Duration) uint32 { return uint32(duration / time.Microsecond) }
	binary.LittleEndian.PutUint32(info[8:], micros(stats.RTO))
	binary.LittleEndian.PutUint32(info[16:], uint32(senderMaxPayloadSize(endpoint)))
	binary.LittleEndian.PutUint32(info[68:], micros(stats.RTT))
	binary.LittleEndian.PutUint32(info[72:], micros(stats.RTTVar))
	binary.LittleEndian.PutUint32(info[76:], stats.SndSsthresh)
	binary.LittleEndian.PutUint32(info[80:], stats.SndCwnd)
	return info
}

// senderMaxPayloadSize is the segment size a TCP endpoint sends (tcpi_snd_mss), or 0 before
// it has a sender. gVisor exports no getter for it (its TCP_MAXSEG reads back a constant 536,
// and its TCP probe only reports after a segment arrives), so it is read with reflection from
// the endpoint's sender: snd.MaxPayloadSize, a field of the exported stack.TCPSenderState.
func senderMaxPayloadSize(endpoint tcpip.Endpoint) int {
	value := reflect.ValueOf(endpoint)
	if value.Kind() != reflect.Pointer || value.Elem().Kind() != reflect.Struct {
		return 0
	}
	sender := value.Elem().FieldByName("snd")
	if !sender.IsValid() || sender.Kind() != reflect.Pointer || sender.IsNil() {
		return 0
	}
	size := sender.Elem().FieldByName("MaxPayloadSize")
	if !size.IsValid() || size.Kind() != reflect.Int {
		return 0
	}
	return int(size.Int())
}

// linuxTCPState is the endpoint's state as Linux numbers it (gVisor's TCP states share
// Linux's numbers; its internal ones before a connection map to TCP_CLOSE).
func linuxTCPState(endpoint tcpip.Endpoint) int {
	state := tcp.EndpointState(endpoint.State())
	if state >= tcp.StateEstablished && state <= tcp.StateClosing {
		return int(state)
	}
	return int(tcp.StateClose)
}

// writeOption copies value into optval, truncated to *optlen, and sets *optlen.
func writeOption(value []byte, optval unsafe.Pointer, optlen *C.socklen_t) {
	length := len(value)
	if int(*optlen) < length {
		length = int(*optlen)
	}
	if optval != nil {
		copy(unsafe.Slice((*byte)(optval), length), value[:length])
	}
	*optlen = C.socklen_t(length)
}

func intOption(value int) []byte {
	bytes := make([]byte, 4)
	binary.LittleEndian.PutUint32(bytes, uint32(int32(value)))
	return bytes
}

//export gvisorGetsockopt
func gvisorGetsockopt(handle C.uintptr_t, fd C.int, level, name C.int, optval unsafe.Pointer, optlen *C.socklen_t, errnoOut *C.int) C.int {
	_, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	options := file.endpoint.SocketOptions()
	var value []byte
	switch {
	case level == C.SOL_SOCKET && name == C.SO_ERROR:
		errno := 0
		if err := file.endpoint.LastError(); err != nil {
			errno = int(errnoOf(err))
		}
		value = intOption(errno)
	case level == C.SOL_SOCKET && name == C.SO_TYPE:
		value = intOption(file.socketType)
	case level == C.SOL_SOCKET && name == C.SO_KEEPALIVE:
		value = intOption(boolInt(options.GetKeepAlive()))
	case level == C.SOL_SOCKET && name == C.SO_REUSEADDR:
		value = intOption(boolInt(options.GetReuseAddress()))
	case level == C.SOL_SOCKET && name == C.SO_SNDBUF:
		value = intOption(int(options.GetSendBufferSize()))
	case level == C.SOL_SOCKET && name == C.SO_RCVBUF:
		value = intOption(int(options.GetReceiveBufferSize()))
	case level == C.IPPROTO_TCP && name == C.TCP_NODELAY && file.protocol == C.IPPROTO_TCP:
		value = intOption(boolInt(!options.GetDelayOption()))
	case level == C.IPPROTO_TCP && name == C.TCP_MAXSEG && file.protocol == C.IPPROTO_TCP:
		mss, err := file.endpoint.GetSockOptInt(tcpip.MaxSegOption)
		if err != nil {
			return fail(errnoOut, errnoOf(err))
		}
		value = intOption(mss)
	case level == C.IPPROTO_TCP && name == C.TCP_INFO && file.protocol == C.IPPROTO_TCP:
		value = tcpInfo(file.endpoint)
	default:
		return fail(errnoOut, errnoENOPROTOOPT)
	}
	writeOption(value, optval, optlen)
	return 0
}

func boolInt(value bool) int {
	if value {
		return 1
	}
	return 0
}

//export gvisorSetsockopt
func gvisorSetsockopt(handle C.uintptr_t, fd C.int, level, name C.int, optval unsafe.Pointer, optlen C.socklen_t, errnoOut *C.int) C.int {
	_, file, ok := lookup(handle, fd, errnoOut)
	if !ok {
		return -1
	}
	if optval == nil || optlen < 4 {
		return fail(errnoOut, errnoEINVAL)
	}
	value := int(*(*C.int)(optval))
	options := file.endpoint.SocketOptions()
	var err tcpip.Error
	switch {
	case level == C.SOL_SOCKET && name == C.SO_KEEPALIVE:
		options.SetKeepAlive(value != 0)
	case level == C.SOL_SOCKET && name == C.SO_REUSEADDR:
		options.SetReuseAddress(value != 0)
	case level == C.SOL_SOCKET && name == C.SO_REUSEPORT:
		options.SetReusePort(value != 0)
	case level == C.SOL_SOCKET && name == C.SO_SNDBUF:
		options.SetSendBufferSize(int64(value), true)
	case level == C.SOL_SOCKET && name == C.SO_RCVBUF:
		options.SetReceiveBufferSize(int64(value), true)
	case level == C.IPPROTO_TCP && name == C.TCP_NODELAY && file.protocol == C.IPPROTO_TCP:
		options.SetDelayOption(value == 0)
	case level == C.IPPROTO_TCP && name == C.TCP_KEEPIDLE && file.protocol == C.IPPROTO_TCP:
		idle := tcpip.KeepaliveIdleOption(time.Duration(value) * time.Second)
		err = file.endpoint.SetSockOpt(&idle)
	case level == C.IPPROTO_TCP && name == C.TCP_KEEPINTVL && file.protocol == C.IPPROTO_TCP:
		interval := tcpip.KeepaliveIntervalOption(time.Duration(value) * time.Second)
		err = file.endpoint.SetSockOpt(&interval)
	case level == C.IPPROTO_TCP && name == C.TCP_KEEPCNT && file.protocol == C.IPPROTO_TCP:
		err = file.endpoint.SetSockOptInt(tcpip.KeepaliveCountOption, value)
	case level == C.IPPROTO_TCP && name == C.TCP_MAXSEG && file.protocol == C.IPPROTO_TCP:
		err = file.endpoint.SetSockOptInt(tcpip.MaxSegOption, value)
	default:
		return fail(errnoOut, errnoENOPROTOOPT)
	}
	if err != nil {
		return fail(errnoOut, errnoOf(err))
	}
	return 0
}
