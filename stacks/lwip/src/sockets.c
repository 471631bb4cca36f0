/*
 * sockets.c: the lwIP adapter's socket layer, POSIX calls over lwIP's raw API: fds, bind,
 * listen with its backlog and accept queue, connect, reads and writes (blocking or not),
 * shutdown and close, fcntl and ioctl, the socket options lwIP has, and poll readiness.
 * lwIP's callbacks fill each socket's receive buffer and error; a blocking call sleeps on the
 * adapter's condition variable until the stack ran.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "adapter.h"
#include "lwip/ip.h"
#include "lwip/priv/tcp_priv.h"

/* ---- fds ---- */

/* Whatever the fd names: a socket or an epoll instance, or NULL. */
struct adapter_socket *fd_entry(struct lwip_adapter *adapter, int fd)
{
	if (fd < FIRST_SOCKET_FD || fd >= MAX_SOCKET_FDS)
		return NULL;
	return adapter->sockets[fd];
}

/* The socket the fd names, or NULL (also for an epoll instance). */
static struct adapter_socket *socket_by_fd(struct lwip_adapter *adapter, int fd)
{
	struct adapter_socket *entry = fd_entry(adapter, fd);
	return entry && !entry->epoll ? entry : NULL;
}

int assign_fd(struct lwip_adapter *adapter, struct adapter_socket *sock)
{
	for (int fd = FIRST_SOCKET_FD; fd < MAX_SOCKET_FDS; fd++) {
		if (!adapter->sockets[fd]) {
			adapter->sockets[fd] = sock;
			sock->fd = fd;
			return fd;
		}
	}
	return -1;
}

struct adapter_socket *socket_for_tcp_pcb(struct lwip_adapter *adapter, const struct tcp_pcb *pcb)
{
	for (int fd = FIRST_SOCKET_FD; fd < MAX_SOCKET_FDS; fd++) {
		struct adapter_socket *sock = adapter->sockets[fd];
		if (sock && sock->tcp == pcb)
			return sock;
	}
	return NULL;
}

/* Every entry point: lock, note the call (see adapter_note_call), find the socket. */
#define ENTER(userdata)                                    \
	struct lwip_adapter *adapter = (userdata);         \
	pthread_mutex_lock(&adapter->lock);                \
	adapter_note_call(adapter)

#define RETURN(value)                                      \
	do {                                               \
		__typeof__(value) returned_value = (value); \
		int saved_errno = errno;                   \
		pthread_mutex_unlock(&adapter->lock);      \
		errno = saved_errno;                       \
		return returned_value;                     \
	} while (0)

#define FAIL(error_number)          \
	do {                        \
		errno = (error_number); \
		RETURN(-1);         \
	} while (0)

#define LOOKUP(sock, fd)                                   \
	struct adapter_socket *sock = socket_by_fd(adapter, (fd)); \
	if (!sock)                                         \
	FAIL(EBADF)

/* After a call that changed what lwIP should send: send it now, unless stackdrill drives
 * polling (then its next stackdrill_poll does), and wake blocked calls. */
static void after_call(struct lwip_adapter *adapter)
{
	if (!adapter->driven_polling)
		adapter_run_stack(adapter);
	else
		pthread_cond_broadcast(&adapter->changed);
}

/* ---- addresses ---- */

static int sockaddr_to_ip(const struct sockaddr *addr, socklen_t addrlen, ip_addr_t *ip, u16_t *port)
{
	if (!addr)
		return EFAULT;
	if (addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		ip_addr_set_ip4_u32(ip, in->sin_addr.s_addr);
		*port = ntohs(in->sin_port);
		return 0;
	}
	if (addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		*port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			u32_t v4;
			memcpy(&v4, &in6->sin6_addr.s6_addr[12], 4);
			ip_addr_set_ip4_u32(ip, v4);
		} else {
			ip6_addr_t address;
			memcpy(&address.addr, &in6->sin6_addr, 16);
			ip6_addr_clear_zone(&address);
			ip_addr_copy_from_ip6(*ip, address);
		}
		return 0;
	}
	return EINVAL;
}

/* Writes ip:port as the socket's family sees it (IPv4 inside an AF_INET6 socket is mapped). */
static void ip_to_sockaddr(int family, const ip_addr_t *ip, u16_t port, struct sockaddr *addr, socklen_t *addrlen)
{
	if (!addr || !addrlen)
		return;
	struct sockaddr_storage out;
	socklen_t length;
	memset(&out, 0, sizeof(out));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&out;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = IP_IS_V4(ip) ? ip4_addr_get_u32(ip_2_ip4(ip)) : 0;
		length = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		if (IP_IS_V4(ip)) {
			u32_t v4 = ip4_addr_get_u32(ip_2_ip4(ip));
			in6->sin6_addr.s6_addr[10] = 0xff;
			in6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
		} else {
			memcpy(&in6->sin6_addr, ip_2_ip6(ip)->addr, 16);
		}
		length = sizeof(*in6);
	}
	memcpy(addr, &out, length < *addrlen ? length : *addrlen);
	*addrlen = length;
}

/* ---- lwIP's callbacks ---- */

/* Appends a pbuf chain's bytes; false when memory ran out (nothing appended). */
static bool byte_buffer_append(struct byte_buffer *buffer, const struct pbuf *p)
{
	if (buffer->start + buffer->length + p->tot_len > buffer->capacity) {
		memmove(buffer->data, buffer->data + buffer->start, buffer->length);
		buffer->start = 0;
	}
	if (buffer->length + p->tot_len > buffer->capacity) {
		size_t capacity = buffer->capacity ? buffer->capacity : 4096;
		while (capacity < buffer->length + p->tot_len)
			capacity *= 2;
		unsigned char *grown = realloc(buffer->data, capacity);
		if (!grown)
			return false;
		buffer->data = grown;
		buffer->capacity = capacity;
	}
	pbuf_copy_partial(p, buffer->data + buffer->start + buffer->length, p->tot_len, 0);
	buffer->length += p->tot_len;
	return true;
}

static err_t on_tcp_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)pcb;
	(void)err;
	struct adapter_socket *sock = arg;
	if (!p) {
		sock->peer_closed = true;
		return ERR_OK;
	}
	if (!byte_buffer_append(&sock->received, p))
		return ERR_MEM; /* lwIP keeps the data and offers it again later */
	pbuf_free(p);
	return ERR_OK;
}

static void on_tcp_err(void *arg, err_t err)
{
	struct adapter_socket *sock = arg;
	if (!sock)
		return; /* a pcb the socket layer let go of (closed, or aborted by release_socket) */
	sock->tcp = NULL; /* lwIP has freed it */
	if (err == ERR_RST)
		sock->pending_error = sock->connected ? ECONNRESET : ECONNREFUSED;
	else if (err == ERR_ABRT)
		sock->pending_error = sock->connected ? ETIMEDOUT : ETIMEDOUT;
	else
		sock->pending_error = ECONNABORTED;
	sock->peer_closed = true;
}

static err_t on_tcp_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)pcb;
	struct adapter_socket *sock = arg;
	if (err == ERR_OK)
		sock->connected = true;
	return ERR_OK;
}

/* Hands the socket's keep-alive timing to its pcb (never a listening one: it has no room). */
static void apply_keepalive_timing(struct adapter_socket *sock)
{
	if (!sock->tcp || sock->tcp->state == LISTEN)
		return;
	if (sock->keepalive_idle_ms)
		sock->tcp->keep_idle = sock->keepalive_idle_ms;
	if (sock->keepalive_interval_ms)
		sock->tcp->keep_intvl = sock->keepalive_interval_ms;
	if (sock->keepalive_count)
		sock->tcp->keep_cnt = sock->keepalive_count;
}

static void watch_tcp_pcb(struct adapter_socket *sock)
{
	tcp_arg(sock->tcp, sock);
	tcp_recv(sock->tcp, on_tcp_recv);
	tcp_err(sock->tcp, on_tcp_err);
}

static struct adapter_socket *new_socket(int family, int type)
{
	struct adapter_socket *sock = calloc(1, sizeof(*sock));
	if (sock) {
		sock->fd = -1;
		sock->family = family;
		sock->type = type;
	}
	return sock;
}

static void free_socket_buffers(struct adapter_socket *sock)
{
	free(sock->received.data);
	memset(&sock->received, 0, sizeof(sock->received));
	while (sock->datagrams_head) {
		struct queued_datagram *datagram = sock->datagrams_head;
		sock->datagrams_head = datagram->next;
		pbuf_free(datagram->payload);
		free(datagram);
	}
	sock->datagrams_tail = NULL;
}

/* A connection the listener accepted in lwIP: it waits in the accept queue for accept(). */
static err_t on_tcp_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct adapter_socket *listener = arg;
	if (err != ERR_OK || !newpcb)
		return ERR_VAL;
	struct adapter_socket *sock = new_socket(listener->family, SOCK_STREAM);
	if (!sock)
		return ERR_MEM;
	sock->tcp = newpcb;
	sock->connected = true;
	sock->listener = listener;
	sock->keepalive_idle_ms = listener->keepalive_idle_ms;
	sock->keepalive_interval_ms = listener->keepalive_interval_ms;
	sock->keepalive_count = listener->keepalive_count;
	watch_tcp_pcb(sock);
	apply_keepalive_timing(sock);
	/* The connection counts against the backlog until accept() takes it, as on Linux. */
	tcp_backlog_delayed(newpcb);
	QUEUE_APPEND(listener->accept_head, listener->accept_tail, sock, accept_next);
	return ERR_OK;
}

static void on_udp_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	(void)pcb;
	struct adapter_socket *sock = arg;
	struct queued_datagram *datagram = calloc(1, sizeof(*datagram));
	if (!datagram) {
		pbuf_free(p);
		return;
	}
	datagram->payload = p;
	ip_addr_copy(datagram->source, *addr);
	datagram->source_port = port;
	QUEUE_APPEND(sock->datagrams_head, sock->datagrams_tail, datagram, next);
}

/* ---- socket calls ---- */

static u8_t ip_type_for(int family)
{
	return family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_ANY;
}

static int sock_socket(void *userdata, int domain, int type, int protocol)
{
	ENTER(userdata);
	int base_type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (domain != AF_INET && domain != AF_INET6)
		FAIL(EAFNOSUPPORT);
	if (!(base_type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) &&
	    !(base_type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)))
		FAIL(EPROTONOSUPPORT);
	struct adapter_socket *sock = new_socket(domain, base_type);
	if (!sock)
		FAIL(ENOMEM);
	sock->nonblocking = (type & SOCK_NONBLOCK) != 0;
	if (base_type == SOCK_STREAM) {
		sock->tcp = tcp_new_ip_type(ip_type_for(domain));
		if (sock->tcp)
			watch_tcp_pcb(sock);
	} else {
		sock->udp = udp_new_ip_type(ip_type_for(domain));
		if (sock->udp)
			udp_recv(sock->udp, on_udp_recv, sock);
	}
	if ((!sock->tcp && !sock->udp) || assign_fd(adapter, sock) < 0) {
		if (sock->tcp)
			tcp_abort(sock->tcp);
		if (sock->udp)
			udp_remove(sock->udp);
		free(sock);
		FAIL(ENFILE);
	}
	RETURN(sock->fd);
}

static int errno_for_err(err_t err)
{
	switch (err) {
	case ERR_OK:
		return 0;
	case ERR_MEM:
	case ERR_BUF:
		return ENOMEM;
	case ERR_USE:
		return EADDRINUSE;
	case ERR_ISCONN:
		return EISCONN;
	case ERR_ALREADY:
		return EALREADY;
	case ERR_RTE:
		return ENETUNREACH;
	case ERR_VAL:
	case ERR_ARG:
		return EINVAL;
	case ERR_RST:
		return ECONNRESET;
	case ERR_CLSD:
		return ENOTCONN;
	default:
		return EIO;
	}
}

/* An address and port, as lwIP takes them. */
struct endpoint {
	ip_addr_t ip;
	u16_t port;
};

/* The socket of `fd` and the address a bind or connect names, or NULL with errno set. */
static struct adapter_socket *socket_and_address(struct lwip_adapter *adapter, int fd, const struct sockaddr *addr,
						 socklen_t addrlen, struct endpoint *named)
{
	struct adapter_socket *sock = socket_by_fd(adapter, fd);
	int error = sock ? sockaddr_to_ip(addr, addrlen, &named->ip, &named->port) : EBADF;
	if (error) {
		errno = error;
		return NULL;
	}
	return sock;
}

/* ENTER and LOOKUP for bind and connect, which also read the address they name. */
#define ENTER_NAMING_ENDPOINT(userdata, fd, addr, addrlen, sock, named)                         \
	ENTER(userdata);                                                                        \
	struct endpoint named;                                                                  \
	struct adapter_socket *sock = socket_and_address(adapter, (fd), (addr), (addrlen), &named); \
	if (!sock)                                                                              \
	RETURN(-1)

static int sock_bind(void *userdata, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	ENTER_NAMING_ENDPOINT(userdata, fd, addr, addrlen, sock, named);
	adapter_learn_local_address(adapter, &named.ip);
	err_t err = ERR_CLSD;
	if (sock->tcp)
		err = tcp_bind(sock->tcp, &named.ip, named.port);
	else if (sock->udp)
		err = udp_bind(sock->udp, &named.ip, named.port);
	if (err != ERR_OK)
		FAIL(errno_for_err(err));
	RETURN(0);
}

static int sock_listen(void *userdata, int fd, int backlog)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	if (sock->type != SOCK_STREAM)
		FAIL(EOPNOTSUPP);
	if (sock->listening)
		RETURN(0);
	if (!sock->tcp || sock->connected || sock->connect_started)
		FAIL(EINVAL);
	/* Linux queues backlog + 1 connections. */
	int queue = backlog < 0 ? 0 : backlog >= 254 ? 255 : backlog + 1;
	err_t err;
	struct tcp_pcb *listening = tcp_listen_with_backlog_and_err(sock->tcp, (u8_t)queue, &err);
	if (!listening)
		FAIL(errno_for_err(err));
	sock->tcp = listening;
	sock->listening = true;
	sock->backlog = backlog;
	tcp_arg(listening, sock);
	tcp_accept(listening, on_tcp_accept);
	RETURN(0);
}

/* ---- blocking ---- */

/* When a call started now with the socket's SO_RCVTIMEO or SO_SNDTIMEO gives up: -1, never. */
static long long deadline_after(struct lwip_adapter *adapter, long long timeout_usecs)
{
	return timeout_usecs > 0 ? adapter_now_usecs(adapter) + timeout_usecs : -1;
}

/* A call that cannot go on yet: fails with EAGAIN when it must not block or its deadline
 * (-1: none) passed, otherwise sleeps until the stack ran. Returns 0 to look again, or -1 with
 * errno set (EBADF: the fd was closed meanwhile). */
static int wait_for_change(struct lwip_adapter *adapter, int fd, const struct adapter_socket *sock, bool nonblocking,
			   long long deadline)
{
	if (nonblocking || adapter_wait(adapter, deadline) == ETIMEDOUT) {
		errno = EAGAIN;
		return -1;
	}
	if (socket_by_fd(adapter, fd) != sock) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

static int sock_accept(void *userdata, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	if (!sock->listening)
		FAIL(EINVAL);
	long long deadline = deadline_after(adapter, sock->receive_timeout_usecs);
	while (!sock->accept_head) {
		if (wait_for_change(adapter, fd, sock, sock->nonblocking, deadline) < 0)
			RETURN(-1);
	}
	struct adapter_socket *accepted = sock->accept_head;
	sock->accept_head = accepted->accept_next;
	if (!sock->accept_head)
		sock->accept_tail = NULL;
	accepted->accept_next = NULL;
	accepted->listener = NULL;
	if (assign_fd(adapter, accepted) < 0) {
		if (accepted->tcp)
			tcp_abort(accepted->tcp);
		free_socket_buffers(accepted);
		free(accepted);
		FAIL(EMFILE);
	}
	if (accepted->tcp) {
		tcp_backlog_accepted(accepted->tcp);
		ip_to_sockaddr(accepted->family, &accepted->tcp->remote_ip, accepted->tcp->remote_port, addr, addrlen);
	}
	after_call(adapter);
	RETURN(accepted->fd);
}

static int sock_connect(void *userdata, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	ENTER_NAMING_ENDPOINT(userdata, fd, addr, addrlen, sock, named);
	if (sock->udp) {
		err_t err = udp_connect(sock->udp, &named.ip, named.port);
		if (err != ERR_OK)
			FAIL(errno_for_err(err));
		sock->connected = true;
		RETURN(0);
	}
	if (sock->connected) {
		/* As Linux: the first connect() after a non-blocking one completed returns 0. */
		if (sock->connect_started && !sock->connect_reported) {
			sock->connect_reported = true;
			RETURN(0);
		}
		FAIL(EISCONN);
	}
	if (sock->connect_started) {
		if (sock->pending_error) {
			int pending = sock->pending_error;
			sock->pending_error = 0;
			FAIL(pending);
		}
		FAIL(EALREADY);
	}
	if (!sock->tcp)
		FAIL(EINVAL);
	err_t err = tcp_connect(sock->tcp, &named.ip, named.port, on_tcp_connected);
	if (err != ERR_OK)
		FAIL(errno_for_err(err));
	sock->connect_started = true;
	after_call(adapter);
	if (sock->nonblocking)
		FAIL(EINPROGRESS);
	long long deadline = deadline_after(adapter, sock->send_timeout_usecs);
	while (!sock->connected && !sock->pending_error) {
		if (wait_for_change(adapter, fd, sock, false, deadline) < 0)
			FAIL(errno == EAGAIN ? EINPROGRESS : errno); /* Linux, on SO_SNDTIMEO */
	}
	if (sock->pending_error) {
		int pending = sock->pending_error;
		sock->pending_error = 0;
		FAIL(pending);
	}
	sock->connect_reported = true;
	RETURN(0);
}

/* ---- reading ---- */

static size_t received_bytes(const struct adapter_socket *sock)
{
	if (sock->type == SOCK_DGRAM)
		return sock->datagrams_head ? sock->datagrams_head->payload->tot_len : 0;
	return sock->received.length;
}

/* Takes up to `len` received bytes (TCP) into buf and reopens the window by as much. */
static size_t take_stream_bytes(struct adapter_socket *sock, void *buf, size_t len, bool peek)
{
	struct byte_buffer *received = &sock->received;
	size_t count = len < received->length ? len : received->length;
	memcpy(buf, received->data + received->start, count);
	if (peek)
		return count;
	received->start += count;
	received->length -= count;
	/* tcp_recved counts in u16_t. */
	for (size_t reopened = 0; sock->tcp && reopened < count;) {
		u16_t chunk = (u16_t)(count - reopened > 0xffff ? 0xffff : count - reopened);
		tcp_recved(sock->tcp, chunk);
		reopened += chunk;
	}
	return count;
}

/* A read of any kind: waits as the socket's mode says, then copies into the iovec. */
static ssize_t receive_into(struct lwip_adapter *adapter, int fd, const struct iovec *iov, int iovcnt, int flags,
			    struct sockaddr *src_addr, socklen_t *addrlen)
{
	struct adapter_socket *sock = socket_by_fd(adapter, fd);
	if (!sock) {
		errno = EBADF;
		return -1;
	}
	bool nonblocking = sock->nonblocking || (flags & MSG_DONTWAIT);
	long long deadline = deadline_after(adapter, sock->receive_timeout_usecs);
	for (;;) {
		if (received_bytes(sock) > 0 || (sock->type == SOCK_DGRAM && sock->datagrams_head))
			break;
		if (sock->pending_error) {
			errno = sock->pending_error;
			sock->pending_error = 0;
			return -1;
		}
		if (sock->type == SOCK_STREAM && (sock->peer_closed || sock->read_shut))
			return 0;
		if (sock->type == SOCK_STREAM && !sock->connected && (!sock->tcp || !sock->connect_started)) {
			errno = ENOTCONN;
			return -1;
		}
		if (wait_for_change(adapter, fd, sock, nonblocking, deadline) < 0)
			return -1;
	}
	bool peek = (flags & MSG_PEEK) != 0;
	size_t total = 0;
	if (sock->type == SOCK_DGRAM) {
		struct queued_datagram *datagram = sock->datagrams_head;
		u16_t offset = 0;
		for (int i = 0; i < iovcnt; i++) {
			u16_t room = (u16_t)(iov[i].iov_len > 0xffff ? 0xffff : iov[i].iov_len);
			u16_t copied = pbuf_copy_partial(datagram->payload, iov[i].iov_base, room, offset);
			offset = (u16_t)(offset + copied);
			total += copied;
		}
		ip_to_sockaddr(sock->family, &datagram->source, datagram->source_port, src_addr, addrlen);
		if (!peek) {
			sock->datagrams_head = datagram->next;
			if (!sock->datagrams_head)
				sock->datagrams_tail = NULL;
			pbuf_free(datagram->payload);
			free(datagram);
		}
	} else {
		for (int i = 0; i < iovcnt && received_bytes(sock) > 0; i++) {
			total += take_stream_bytes(sock, iov[i].iov_base, iov[i].iov_len, peek);
			if (peek)
				break;
		}
		if (src_addr && addrlen && sock->tcp)
			ip_to_sockaddr(sock->family, &sock->tcp->remote_ip, sock->tcp->remote_port, src_addr, addrlen);
	}
	after_call(adapter);
	return (ssize_t)total;
}

static ssize_t sock_recvfrom(void *userdata, int fd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
			     socklen_t *addrlen)
{
	ENTER(userdata);
	struct iovec one = { .iov_base = buf, .iov_len = len };
	RETURN(receive_into(adapter, fd, &one, 1, flags, src_addr, addrlen));
}

static ssize_t sock_recv(void *userdata, int fd, void *buf, size_t len, int flags)
{
	return sock_recvfrom(userdata, fd, buf, len, flags, NULL, NULL);
}

static ssize_t sock_read(void *userdata, int fd, void *buf, size_t count)
{
	return sock_recvfrom(userdata, fd, buf, count, 0, NULL, NULL);
}

static ssize_t sock_readv(void *userdata, int fd, const struct iovec *iov, int iovcnt)
{
	ENTER(userdata);
	RETURN(receive_into(adapter, fd, iov, iovcnt, 0, NULL, NULL));
}

static ssize_t sock_recvmsg(void *userdata, int fd, struct msghdr *msg, int flags)
{
	ENTER(userdata);
	msg->msg_controllen = 0;
	msg->msg_flags = 0;
	RETURN(receive_into(adapter, fd, msg->msg_iov, (int)msg->msg_iovlen, flags, msg->msg_name,
			    msg->msg_name ? &msg->msg_namelen : NULL));
}

/* ---- writing ---- */

static ssize_t send_datagram(struct adapter_socket *sock, const struct iovec *iov, int iovcnt,
			     const struct sockaddr *dest_addr, socklen_t addrlen)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > 0xffff - 8) {
		errno = EMSGSIZE;
		return -1;
	}
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)total, PBUF_RAM);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	u16_t offset = 0;
	for (int i = 0; i < iovcnt; i++) {
		pbuf_take_at(p, iov[i].iov_base, (u16_t)iov[i].iov_len, offset);
		offset = (u16_t)(offset + iov[i].iov_len);
	}
	err_t err;
	if (dest_addr) {
		ip_addr_t ip;
		u16_t port;
		int error = sockaddr_to_ip(dest_addr, addrlen, &ip, &port);
		if (error) {
			pbuf_free(p);
			errno = error;
			return -1;
		}
		err = udp_sendto(sock->udp, p, &ip, port);
	} else if (!sock->connected) {
		pbuf_free(p);
		errno = EDESTADDRREQ;
		return -1;
	} else {
		err = udp_send(sock->udp, p);
	}
	pbuf_free(p);
	if (err != ERR_OK) {
		errno = errno_for_err(err);
		return -1;
	}
	return (ssize_t)total;
}

/* A write of any kind: TCP takes what fits in lwIP's send buffer (all of it, waiting for room,
 * when blocking). */
static ssize_t send_from(struct lwip_adapter *adapter, int fd, const struct iovec *iov, int iovcnt, int flags,
			 const struct sockaddr *dest_addr, socklen_t addrlen)
{
	struct adapter_socket *sock = socket_by_fd(adapter, fd);
	if (!sock) {
		errno = EBADF;
		return -1;
	}
	if (sock->type == SOCK_DGRAM) {
		ssize_t sent = send_datagram(sock, iov, iovcnt, dest_addr, addrlen);
		after_call(adapter);
		return sent;
	}
	bool nonblocking = sock->nonblocking || (flags & MSG_DONTWAIT);
	long long deadline = deadline_after(adapter, sock->send_timeout_usecs);
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	size_t done = 0;
	int vector = 0;
	size_t vector_offset = 0;
	while (done < total) {
		if (sock->pending_error) {
			if (done)
				break;
			errno = sock->pending_error;
			sock->pending_error = 0;
			return -1;
		}
		if (sock->write_shut || !sock->tcp) {
			if (done)
				break;
			errno = EPIPE;
			return -1;
		}
		if (!sock->connected) {
			if (done)
				break;
			errno = sock->connect_started ? EAGAIN : EPIPE; /* Linux: EPIPE, never connected */
			return -1;
		}
		size_t room = tcp_sndbuf(sock->tcp);
		if (tcp_sndqueuelen(sock->tcp) >= TCP_SND_QUEUELEN)
			room = 0;
		if (room == 0) {
			if (done)
				break;
			if (wait_for_change(adapter, fd, sock, nonblocking, deadline) < 0)
				return -1;
			continue;
		}
		while (vector < iovcnt && vector_offset == iov[vector].iov_len) {
			vector++;
			vector_offset = 0;
		}
		size_t chunk = iov[vector].iov_len - vector_offset;
		if (chunk > room)
			chunk = room;
		if (chunk > 0xffff)
			chunk = 0xffff;
		bool more = done + chunk < total;
		err_t err = tcp_write(sock->tcp, (const char *)iov[vector].iov_base + vector_offset, (u16_t)chunk,
				      TCP_WRITE_FLAG_COPY | (more ? TCP_WRITE_FLAG_MORE : 0));
		if (err == ERR_MEM) {
			if (done)
				break;
			if (wait_for_change(adapter, fd, sock, nonblocking, deadline) < 0)
				return -1;
			continue;
		}
		if (err != ERR_OK) {
			errno = errno_for_err(err);
			return -1;
		}
		vector_offset += chunk;
		done += chunk;
	}
	if (sock->tcp)
		tcp_output(sock->tcp);
	after_call(adapter);
	return (ssize_t)done;
}

static ssize_t sock_sendto(void *userdata, int fd, const void *buf, size_t len, int flags,
			   const struct sockaddr *dest_addr, socklen_t addrlen)
{
	ENTER(userdata);
	struct iovec one = { .iov_base = (void *)buf, .iov_len = len };
	RETURN(send_from(adapter, fd, &one, 1, flags, dest_addr, addrlen));
}

static ssize_t sock_send(void *userdata, int fd, const void *buf, size_t len, int flags)
{
	return sock_sendto(userdata, fd, buf, len, flags, NULL, 0);
}

static ssize_t sock_write(void *userdata, int fd, const void *buf, size_t count)
{
	return sock_sendto(userdata, fd, buf, count, 0, NULL, 0);
}

static ssize_t sock_writev(void *userdata, int fd, const struct iovec *iov, int iovcnt)
{
	ENTER(userdata);
	RETURN(send_from(adapter, fd, iov, iovcnt, 0, NULL, 0));
}

static ssize_t sock_sendmsg(void *userdata, int fd, const struct msghdr *msg, int flags)
{
	ENTER(userdata);
	RETURN(send_from(adapter, fd, msg->msg_iov, (int)msg->msg_iovlen, flags, msg->msg_name,
			 msg->msg_namelen));
}

/* ---- closing ---- */

/* Closes the socket's pcb the way close(2) would: a listener resets the connections still in
 * its queue; lwIP resets a connection whose received data was not read. */
static void release_socket(struct adapter_socket *sock)
{
	while (sock->accept_head) {
		struct adapter_socket *queued = sock->accept_head;
		sock->accept_head = queued->accept_next;
		if (queued->tcp) {
			tcp_arg(queued->tcp, NULL);
			tcp_abort(queued->tcp);
		}
		free_socket_buffers(queued);
		free(queued);
	}
	sock->accept_tail = NULL;
	if (sock->tcp) {
		struct tcp_pcb *pcb = sock->tcp;
		tcp_arg(pcb, NULL);
		if (sock->listening) {
			tcp_accept(pcb, NULL);
		} else {
			tcp_recv(pcb, NULL);
			tcp_err(pcb, NULL);
		}
		if (tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
		sock->tcp = NULL;
	}
	if (sock->udp) {
		udp_remove(sock->udp);
		sock->udp = NULL;
	}
	free_socket_buffers(sock);
	free(sock);
}

/* Closes a socket or an epoll instance; a closed socket leaves every epoll interest list. */
static void release_fd(struct lwip_adapter *adapter, int fd)
{
	struct adapter_socket *entry = adapter->sockets[fd];
	adapter->sockets[fd] = NULL;
	epoll_forget_fd(adapter, fd);
	if (entry->epoll) {
		epoll_free(entry->epoll);
		free(entry);
	} else {
		release_socket(entry);
	}
}

static int sock_close(void *userdata, int fd)
{
	ENTER(userdata);
	if (!fd_entry(adapter, fd))
		FAIL(EBADF);
	release_fd(adapter, fd);
	after_call(adapter);
	RETURN(0);
}

void socket_layer_close_all(struct lwip_adapter *adapter)
{
	for (int fd = FIRST_SOCKET_FD; fd < MAX_SOCKET_FDS; fd++) {
		if (adapter->sockets[fd])
			release_fd(adapter, fd);
	}
}

static int sock_shutdown(void *userdata, int fd, int how)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		FAIL(EINVAL);
	if (sock->type != SOCK_STREAM || !sock->tcp || !sock->connected)
		FAIL(ENOTCONN);
	int shut_rx = how != SHUT_WR;
	int shut_tx = how != SHUT_RD;
	if (shut_rx)
		sock->read_shut = true;
	if (shut_tx && !sock->write_shut) {
		sock->write_shut = true;
		/* lwIP's shutdown of the receiving side frees the pcb: only the sending side is
		 * passed on, reads are stopped here. */
		err_t err = tcp_shutdown(sock->tcp, 0, 1);
		if (err != ERR_OK)
			FAIL(errno_for_err(err));
	}
	after_call(adapter);
	RETURN(0);
}

/* ---- fcntl, ioctl ---- */

static int sock_fcntl(void *userdata, int fd, int cmd, ...)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	va_list args;
	va_start(args, cmd);
	int arg = (cmd == F_SETFL) ? va_arg(args, int) : 0;
	va_end(args);
	switch (cmd) {
	case F_GETFL:
		RETURN(O_RDWR | (sock->nonblocking ? O_NONBLOCK : 0));
	case F_SETFL:
		sock->nonblocking = (arg & O_NONBLOCK) != 0;
		RETURN(0);
	case F_GETFD:
	case F_SETFD:
		RETURN(0);
	default:
		FAIL(EINVAL);
	}
}

static int sock_ioctl(void *userdata, int fd, unsigned long request, ...)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	va_list args;
	va_start(args, request);
	int *arg = va_arg(args, int *);
	va_end(args);
	switch (request) {
	case FIONREAD: /* = SIOCINQ */
		if (sock->listening)
			FAIL(EINVAL);
		*arg = (int)received_bytes(sock);
		RETURN(0);
	case FIONBIO:
		sock->nonblocking = *arg != 0;
		RETURN(0);
	default:
		FAIL(ENOTTY);
	}
}

/* ---- socket options ---- */

static int read_int_option(const void *optval, socklen_t optlen, int *value)
{
	if (!optval || optlen < sizeof(int))
		return EINVAL;
	memcpy(value, optval, sizeof(int));
	return 0;
}

static int sock_setsockopt(void *userdata, int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	if (level == SOL_SOCKET && (optname == SO_RCVTIMEO || optname == SO_SNDTIMEO)) {
		struct timeval timeout;
		if (!optval || optlen < sizeof(timeout))
			FAIL(EINVAL);
		memcpy(&timeout, optval, sizeof(timeout));
		if (timeout.tv_sec < 0 || timeout.tv_usec < 0 || timeout.tv_usec >= 1000000)
			FAIL(EDOM);
		long long usecs = (long long)timeout.tv_sec * 1000000 + timeout.tv_usec;
		if (optname == SO_RCVTIMEO)
			sock->receive_timeout_usecs = usecs;
		else
			sock->send_timeout_usecs = usecs;
		RETURN(0);
	}
	int value = 0;
	int error = read_int_option(optval, optlen, &value);
	if (error && optname != SO_LINGER)
		FAIL(error);
	struct tcp_pcb *tcp = sock->tcp;
	if (level == SOL_SOCKET) {
		u8_t flag;
		switch (optname) {
		case SO_REUSEADDR:
			flag = SOF_REUSEADDR;
			break;
		case SO_KEEPALIVE:
			flag = SOF_KEEPALIVE;
			break;
		case SO_BROADCAST:
			flag = SOF_BROADCAST;
			break;
		case SO_RCVBUF:
		case SO_SNDBUF:
		case SO_LINGER:
			RETURN(0); /* lwIP's buffers are fixed at build time: accepted, no effect */
		default:
			FAIL(ENOPROTOOPT);
		}
		if (tcp) {
			if (value)
				ip_set_option(tcp, flag);
			else
				ip_reset_option(tcp, flag);
		} else if (sock->udp) {
			if (value)
				ip_set_option(sock->udp, flag);
			else
				ip_reset_option(sock->udp, flag);
		}
		RETURN(0);
	}
	if (level == IPPROTO_TCP && sock->type == SOCK_STREAM) {
		if (!tcp)
			FAIL(EINVAL);
		switch (optname) {
		case TCP_NODELAY:
			if (sock->listening)
				RETURN(0); /* a listening pcb has no flags: lwIP's accepted ones start with Nagle */
			if (value)
				tcp_nagle_disable(tcp);
			else
				tcp_nagle_enable(tcp);
			RETURN(0);
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
			if (value < 1)
				FAIL(EINVAL);
			if (optname == TCP_KEEPIDLE)
				sock->keepalive_idle_ms = (u32_t)value * 1000;
			else if (optname == TCP_KEEPINTVL)
				sock->keepalive_interval_ms = (u32_t)value * 1000;
			else
				sock->keepalive_count = (u32_t)value;
			apply_keepalive_timing(sock);
			RETURN(0);
		default:
			FAIL(ENOPROTOOPT);
		}
	}
	FAIL(ENOPROTOOPT);
}

static int write_int_option(void *optval, socklen_t *optlen, int value)
{
	if (!optval || !optlen)
		return EFAULT;
	socklen_t length = *optlen < sizeof(int) ? *optlen : sizeof(int);
	memcpy(optval, &value, length);
	*optlen = length;
	return 0;
}

static int sock_getsockopt(void *userdata, int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	ENTER(userdata);
	LOOKUP(sock, fd);
	struct tcp_pcb *tcp = sock->tcp;
	int value;
	if (level == SOL_SOCKET && (optname == SO_RCVTIMEO || optname == SO_SNDTIMEO)) {
		long long usecs = optname == SO_RCVTIMEO ? sock->receive_timeout_usecs : sock->send_timeout_usecs;
		struct timeval timeout = { .tv_sec = usecs / 1000000, .tv_usec = usecs % 1000000 };
		socklen_t length = *optlen < sizeof(timeout) ? *optlen : sizeof(timeout);
		memcpy(optval, &timeout, length);
		*optlen = length;
		RETURN(0);
	}
	if (level == SOL_SOCKET) {
		switch (optname) {
		case SO_ERROR:
			value = sock->pending_error;
			sock->pending_error = 0;
			break;
		case SO_TYPE:
			value = sock->type;
			break;
		case SO_REUSEADDR:
			value = tcp ? ip_get_option(tcp, SOF_REUSEADDR) != 0 : 0;
			break;
		case SO_KEEPALIVE:
			value = tcp ? ip_get_option(tcp, SOF_KEEPALIVE) != 0 : 0;
			break;
		case SO_ACCEPTCONN:
			value = sock->listening;
			break;
		case SO_SNDBUF:
			value = TCP_SND_BUF;
			break;
		case SO_RCVBUF:
			value = TCP_WND;
			break;
		default:
			FAIL(ENOPROTOOPT);
		}
	} else if (level == IPPROTO_TCP && sock->type == SOCK_STREAM) {
		switch (optname) {
		case TCP_INFO: {
			struct tcp_info info;
			unsigned int info_len = 0;
			memset(&info, 0, sizeof(info));
			if (tcp)
				fill_tcp_info(tcp, &info, &info_len);
			else
				info.tcpi_state = 7; /* TCP_CLOSE */
			socklen_t length = *optlen < sizeof(info) ? *optlen : sizeof(info);
			memcpy(optval, &info, length);
			*optlen = length;
			RETURN(0);
		}
		case TCP_NODELAY:
			value = tcp && !sock->listening ? tcp_nagle_disabled(tcp) != 0 : 0;
			break;
		case TCP_MAXSEG:
			value = tcp && !sock->listening ? tcp->mss : TCP_MSS;
			break;
		case TCP_KEEPIDLE:
			value = (int)((sock->keepalive_idle_ms ? sock->keepalive_idle_ms : TCP_KEEPIDLE_DEFAULT) / 1000);
			break;
		case TCP_KEEPINTVL:
			value = (int)((sock->keepalive_interval_ms ? sock->keepalive_interval_ms : TCP_KEEPINTVL_DEFAULT) /
				      1000);
			break;
		case TCP_KEEPCNT:
			value = (int)(sock->keepalive_count ? sock->keepalive_count : TCP_KEEPCNT_DEFAULT);
			break;
		default:
			FAIL(ENOPROTOOPT);
		}
	} else {
		FAIL(ENOPROTOOPT);
	}
	int error = write_int_option(optval, optlen, value);
	if (error)
		FAIL(error);
	RETURN(0);
}

/* ---- poll ---- */

short socket_readiness(struct adapter_socket *sock)
{
	short events = 0;
	if (sock->listening) {
		if (sock->accept_head)
			events |= POLLIN;
		return events;
	}
	if (received_bytes(sock) > 0 || (sock->type == SOCK_DGRAM && sock->datagrams_head))
		events |= POLLIN;
	if (sock->type == SOCK_DGRAM)
		return events | POLLOUT;
	if (sock->peer_closed || sock->read_shut)
		events |= POLLIN | POLLRDHUP;
	if (sock->pending_error)
		events |= POLLERR;
	bool connection_gone = !sock->tcp && (sock->connect_started || sock->connected);
	/* As Linux's tcp_poll: a connection that is gone (reset, refused, timed out) hangs up
	 * and reads and writes no longer block; a shut sending side reports POLLOUT too. */
	if (connection_gone)
		events |= POLLIN | POLLRDHUP | POLLOUT | POLLHUP;
	if (sock->write_shut)
		events |= POLLOUT;
	else if (sock->tcp && sock->connected && tcp_sndbuf(sock->tcp) > 0)
		events |= POLLOUT;
	if (sock->peer_closed && sock->write_shut)
		events |= POLLHUP;
	return events;
}

static int sock_poll(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout)
{
	ENTER(userdata);
	long long deadline = timeout < 0 ? -1 : adapter_now_usecs(adapter) + (long long)timeout * 1000;
	for (;;) {
		int ready = 0;
		for (nfds_t i = 0; i < nfds; i++) {
			struct adapter_socket *sock = socket_by_fd(adapter, fds[i].fd);
			if (fds[i].fd < 0) {
				fds[i].revents = 0;
				continue;
			}
			short events = sock ? socket_readiness(sock) : POLLNVAL;
			fds[i].revents = events & (fds[i].events | POLLERR | POLLHUP | POLLNVAL);
			if (fds[i].revents)
				ready++;
		}
		if (ready || timeout == 0)
			RETURN(ready);
		if (adapter_wait(adapter, deadline) == ETIMEDOUT)
			RETURN(0);
	}
}

void socket_layer_fill_table(struct packetdrill_interface *ifc)
{
	ifc->socket = sock_socket;
	ifc->bind = sock_bind;
	ifc->listen = sock_listen;
	ifc->accept = sock_accept;
	ifc->connect = sock_connect;
	ifc->read = sock_read;
	ifc->readv = sock_readv;
	ifc->recv = sock_recv;
	ifc->recvfrom = sock_recvfrom;
	ifc->recvmsg = sock_recvmsg;
	ifc->write = sock_write;
	ifc->writev = sock_writev;
	ifc->send = sock_send;
	ifc->sendto = sock_sendto;
	ifc->sendmsg = sock_sendmsg;
	ifc->fcntl = sock_fcntl;
	ifc->ioctl = sock_ioctl;
	ifc->close = sock_close;
	ifc->shutdown = sock_shutdown;
	ifc->getsockopt = sock_getsockopt;
	ifc->setsockopt = sock_setsockopt;
	ifc->poll = sock_poll;
	epoll_fill_table(ifc);
}
