/*
 * arch/cc.h: lwIP's port header for the stackdrill adapter on Linux: the C library's types,
 * byte order and random numbers, and a failed lwIP assertion that stops the process loudly.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef STACKDRILL_LWIP_ARCH_CC_H
#define STACKDRILL_LWIP_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>

#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_RAND() ((u32_t)random())

#define LWIP_PLATFORM_DIAG(message) \
	do {                        \
		printf message;     \
	} while (0)
#define LWIP_PLATFORM_ASSERT(message)                                                    \
	do {                                                                             \
		fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", message,      \
			__FILE__, __LINE__);                                             \
		abort();                                                                 \
	} while (0)

#endif /* STACKDRILL_LWIP_ARCH_CC_H */
