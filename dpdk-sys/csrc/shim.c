/* The C side of dpdk-sys that bindgen cannot generate: macros and TLS (see shim.h). Built by
 * build.rs with the same flags as DPDK's own users (pkg-config --cflags libdpdk). */
/* rte_devargs_reset is still experimental in 22.11. */
#define ALLOW_EXPERIMENTAL_API
/* F_GETSIG, F_SETOWN_EX, struct f_owner_ex. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <signal.h>
#include <string.h>

#include <rte_devargs.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "shim.h"

int shim_rte_errno(void)
{
	return rte_errno;
}

void *shim_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_data_len(m);
}

uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_pkt_len(m);
}

uint32_t shim_pktmbuf_copy_out(const struct rte_mbuf *m, void *dst, uint32_t cap)
{
	uint32_t done = 0;

	for (; m != NULL && done < cap; m = m->next) {
		uint32_t n = rte_pktmbuf_data_len(m);

		if (n > cap - done)
			n = cap - done;
		memcpy((char *)dst + done, rte_pktmbuf_mtod(m, const char *), n);
		done += n;
	}
	return done;
}

struct rte_mbuf *shim_pktmbuf_from(struct rte_mempool *pool, const void *data, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	char *room;

	if (m == NULL)
		return NULL;
	room = rte_pktmbuf_append(m, len);
	if (room == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(room, data, len);
	return m;
}

void shim_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int n)
{
	rte_pktmbuf_free_bulk(mbufs, n);
}

int shim_devargs_known(const char *devargs)
{
	struct rte_devargs da;
	int ret;

	memset(&da, 0, sizeof(da));
	ret = rte_devargs_parse(&da, devargs);
	rte_devargs_reset(&da);
	return ret;
}

int shim_async_signal(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	int sig;

	if (flags < 0 || !(flags & O_ASYNC))
		return -1;
	sig = fcntl(fd, F_GETSIG);
	if (sig < 0)
		return -1;
	return sig == 0 ? SIGIO : sig;
}

int shim_async_signal_to_thread(int fd, int tid)
{
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = tid };

	return fcntl(fd, F_SETOWN_EX, &owner);
}
