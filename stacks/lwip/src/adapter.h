/*
 * adapter.h: the state the lwIP adapter shares between its files: the one adapter of the
 * process (lwIP itself is global), its lock and wake-up, its clock, the packet queues between
 * lwIP's interface and stackdrill, and the socket table that numbers the sockets as fds.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef STACKDRILL_LWIP_ADAPTER_H
#define STACKDRILL_LWIP_ADAPTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "packetdrill.h"

#define EXPORTED __attribute__((visibility("default")))

/* Appends `item` to a singly linked queue kept as `head` and `tail`, linked through `link`. */
#define QUEUE_APPEND(head, tail, item, link)   \
	do {                                   \
		(item)->link = NULL;           \
		if (tail)                      \
			(tail)->link = (item); \
		else                           \
			(head) = (item);       \
		(tail) = (item);               \
	} while (0)

/* fds 0-2 are left to stdio, as the kernel would: the first socket is fd 3. */
#define FIRST_SOCKET_FD 3
#define MAX_SOCKET_FDS 1024

/* One IP packet waiting in a queue, with the time it was queued (the stack's clock). */
struct queued_packet {
	struct queued_packet *next;
	long long time_usecs;
	size_t length;
	unsigned char data[];
};

struct packet_queue {
	struct queued_packet *head;
	struct queued_packet *tail;
};

/* Bytes received on a TCP socket, not yet read: a growing array (lwIP's pbuf chains count
 * only up to 64 KiB, less than the window). */
struct byte_buffer {
	unsigned char *data;
	size_t start; /* the first unread byte */
	size_t length; /* unread bytes from start */
	size_t capacity;
};

/* One datagram received on a UDP socket. */
struct queued_datagram {
	struct queued_datagram *next;
	struct pbuf *payload;
	ip_addr_t source;
	u16_t source_port;
};

struct epoll_instance;

/* A socket of the adapter's socket layer: an lwIP pcb plus what POSIX adds on top (the
 * receive buffer, the accept queue, the error to report, the flags set with fcntl). */
struct adapter_socket {
	int fd; /* -1 while waiting in a listener's accept queue */
	int family; /* AF_INET or AF_INET6: of the addresses the application sees */
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	bool nonblocking;
	struct tcp_pcb *tcp; /* NULL once lwIP has freed it (reset, abort) */
	struct udp_pcb *udp;
	bool listening;
	int backlog;
	bool connect_started;
	bool connected;
	bool connect_reported; /* connect() returned 0 (or EISCONN is due) */
	bool peer_closed; /* FIN received: reads return 0 once the buffer is empty */
	bool read_shut;
	bool write_shut;
	int pending_error; /* errno for SO_ERROR and the next call, 0 when none */
	long long receive_timeout_usecs, send_timeout_usecs; /* SO_RCVTIMEO, SO_SNDTIMEO; 0: none */
	/* Keep-alive timing in ms (0: lwIP's default). Kept here because a listening pcb has no
	 * room for it: connections accepted from a listener inherit it. */
	u32_t keepalive_idle_ms, keepalive_interval_ms, keepalive_count;
	struct byte_buffer received; /* TCP: bytes received, not yet read */
	struct queued_datagram *datagrams_head, *datagrams_tail;
	struct adapter_socket *accept_head, *accept_tail; /* listener: connections to accept */
	struct adapter_socket *accept_next;
	struct adapter_socket *listener; /* a connection still in its listener's accept queue */
	struct epoll_instance *epoll; /* not NULL: this fd is an epoll instance, not a socket */
};

struct lwip_adapter {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* broadcast whenever the stack ran: blocked calls re-check */
	/* The clock. Under driven polling it is virtual (moves only in usleep); before that,
	 * and for hosts that never call stackdrill_poll (upstream packetdrill), it is the host's
	 * real time. */
	bool driven_polling;
	/* lwIP starts at the first call, once the clock it runs on is known (its timers and TCP
	 * timestamps count from there): the first stackdrill_poll, or any other call. */
	bool stack_started;
	long long virtual_now_usecs;
	/* When the socket call asleep in adapter_wait gives up (poll's timeout, SO_RCVTIMEO...),
	 * -1 when none: stackdrill_poll reports it as a timer, so the virtual clock gets there. */
	long long blocked_call_deadline_usecs;
	struct netif netif;
	bool network_told; /* stackdrill_network_setup was called: `network` holds it */
	struct stackdrill_network network;
	struct packet_queue inbound; /* from the peer, waiting for stackdrill_poll */
	struct packet_queue outbound; /* to the peer, waiting for netdev_receive */
	struct adapter_socket *sockets[MAX_SOCKET_FDS];
};

/* The adapter of this process: lwIP's sys_now and its interface callbacks have no argument
 * to find it by. */
extern struct lwip_adapter *the_adapter;

/* stack.c */
long long adapter_now_usecs(struct lwip_adapter *adapter);
void adapter_note_call(struct lwip_adapter *adapter);
void adapter_run_stack(struct lwip_adapter *adapter);
void adapter_learn_local_address(struct lwip_adapter *adapter, const ip_addr_t *address);
int adapter_wait(struct lwip_adapter *adapter, long long deadline_usecs);

/* epoll.c */
void epoll_fill_table(struct packetdrill_interface *ifc);
void epoll_forget_fd(struct lwip_adapter *adapter, int fd);
void epoll_free(struct epoll_instance *epoll);

/* sockets.c */
void socket_layer_fill_table(struct packetdrill_interface *ifc);
void socket_layer_close_all(struct lwip_adapter *adapter);
struct adapter_socket *socket_for_tcp_pcb(struct lwip_adapter *adapter, const struct tcp_pcb *pcb);
short socket_readiness(struct adapter_socket *sock);
struct adapter_socket *fd_entry(struct lwip_adapter *adapter, int fd);
int assign_fd(struct lwip_adapter *adapter, struct adapter_socket *sock);
int linux_tcp_state(enum tcp_state state);
void fill_tcp_info(const struct tcp_pcb *pcb, void *info, unsigned int *info_len);

#endif /* STACKDRILL_LWIP_ADAPTER_H */
