/*
 * shim.h: what the Go side of the gVisor adapter needs from C: the ABI's types (through
 * packetdrill.h) for its cgo preamble. SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef STACKDRILL_GVISOR_SHIM_H
#define STACKDRILL_GVISOR_SHIM_H

#include "../../include/packetdrill.h"

#endif
