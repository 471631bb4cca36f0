/* Declarations of shim.c: what bindgen cannot wrap because DPDK spells it as a macro or a
 * thread-local variable. */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H

#include <stdint.h>

struct rte_mbuf;

/* The calling thread's rte_errno (a per-lcore TLS variable behind a macro). */
int shim_rte_errno(void);
/* rte_pktmbuf_mtod(m, void *): the first byte of the first segment's data. */
void *shim_pktmbuf_mtod(struct rte_mbuf *m);
/* rte_pktmbuf_data_len(m): the first segment's data length. */
uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m);
/* rte_pktmbuf_pkt_len(m): the whole packet's length over all segments. */
uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m);
/* Copies the packet's bytes, over all its segments, into dst (at most cap bytes); returns
 * how many were copied. */
uint32_t shim_pktmbuf_copy_out(const struct rte_mbuf *m, void *dst, uint32_t cap);
/* Allocates an mbuf from pool and copies len bytes of data into it; NULL when the pool is
 * empty or one segment cannot hold len bytes. */
struct rte_mbuf *shim_pktmbuf_from(struct rte_mempool *pool, const void *data, uint16_t len);
/* 0 when some bus (and, for a vdev, some driver) recognises the device that devargs names
 * (rte_devargs_parse), a negative errno otherwise. Parses only; attaches nothing. */
int shim_devargs_known(const char *devargs);
/* The signal the kernel sends when fd (with O_ASYNC) becomes readable: F_GETSIG, with 0
 * (the default) reported as SIGIO; -1 when fd is not in O_ASYNC mode or fcntl fails. */
int shim_async_signal(int fd);
/* Makes thread tid the owner of fd's O_ASYNC signal (F_SETOWN_EX, F_OWNER_TID): 0, or -1 with
 * errno set. */
int shim_async_signal_to_thread(int fd, int tid);
/* Frees n mbufs (rte_pktmbuf_free_bulk). */
void shim_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int n);

#endif
