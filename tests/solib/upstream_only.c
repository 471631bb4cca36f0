/*
 * An adapter as written for upstream packetdrill, for tests/upstream_only.rs: it exports only
 * packetdrill_interface_init, and forwards it to the adapter named by $STACKDRILL_REAL_ADAPTER,
 * loaded privately (RTLD_LOCAL) so that none of that adapter's stackdrill_* extensions can be
 * found through this library. stackdrill then drives it as upstream would have to: no network
 * setup, no stackdrill_poll.
 */
#include "packetdrill.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc)
{
	const char *path = getenv("STACKDRILL_REAL_ADAPTER");
	void *real;
	packetdrill_interface_init_t init;

	if (path == NULL) {
		fprintf(stderr, "upstream_only: STACKDRILL_REAL_ADAPTER is not set\n");
		return;
	}
	real = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (real == NULL) {
		fprintf(stderr, "upstream_only: %s\n", dlerror());
		return;
	}
	init = (packetdrill_interface_init_t)dlsym(real, "packetdrill_interface_init");
	if (init == NULL) {
		fprintf(stderr, "upstream_only: %s\n", dlerror());
		return;
	}
	init(flags, ifc);
}
