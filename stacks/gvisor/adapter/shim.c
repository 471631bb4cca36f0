/*
 * shim.c: the C side of the gVisor adapter. It owns what Go cannot express through cgo: the
 * packetdrill_interface table of function pointers, the variadic fcntl/ioctl entries, setting
 * the caller's errno from the error number the Go side returns, and flattening iovecs and
 * msghdrs into the plain read/write calls the Go side implements.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "_cgo_export.h"
#include "shim.h"

/* Every Go entry point returns its result and writes an errno into *error_number when the
 * result is negative; the C entry point hands that to the caller through errno. */
#define RETURN_WITH_ERRNO(type, call)                                                       \
	do {                                                                                \
		int error_number = 0;                                                       \
		type result = (call);                                                       \
		if (result < 0)                                                             \
			errno = error_number;                                               \
		return result;                                                              \
	} while (0)

static uintptr_t handle_of(void *userdata)
{
	return (uintptr_t)userdata;
}

static void shim_free(void *userdata)
{
	gvisorFree(handle_of(userdata));
}

static int shim_socket(void *userdata, int domain, int type, int protocol)
{
	RETURN_WITH_ERRNO(int, gvisorSocket(handle_of(userdata), domain, type, protocol,
					    &error_number));
}

static int shim_bind(void *userdata, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	RETURN_WITH_ERRNO(int, gvisorBind(handle_of(userdata), fd, (void *)addr, addrlen,
					  &error_number));
}

static int shim_listen(void *userdata, int fd, int backlog)
{
	RETURN_WITH_ERRNO(int, gvisorListen(handle_of(userdata), fd, backlog, &error_number));
}

static int shim_accept(void *userdata, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	RETURN_WITH_ERRNO(int, gvisorAccept(handle_of(userdata), fd, addr, addrlen,
					    &error_number));
}

static int shim_connect(void *userdata, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	RETURN_WITH_ERRNO(int, gvisorConnect(handle_of(userdata), fd, (void *)addr, addrlen,
					     &error_number));
}

static ssize_t shim_recvfrom(void *userdata, int fd, void *buf, size_t len, int flags,
			     struct sockaddr *src_addr, socklen_t *addrlen)
{
	RETURN_WITH_ERRNO(ssize_t, gvisorRecvfrom(handle_of(userdata), fd, buf, len, flags,
						  src_addr, addrlen, &error_number));
}

static ssize_t shim_read(void *userdata, int fd, void *buf, size_t count)
{
	return shim_recvfrom(userdata, fd, buf, count, 0, NULL, NULL);
}

static ssize_t shim_recv(void *userdata, int fd, void *buf, size_t len, int flags)
{
	return shim_recvfrom(userdata, fd, buf, len, flags, NULL, NULL);
}

static ssize_t shim_sendto(void *userdata, int fd, const void *buf, size_t len, int flags,
			   const struct sockaddr *dest_addr, socklen_t addrlen)
{
	RETURN_WITH_ERRNO(ssize_t, gvisorSendto(handle_of(userdata), fd, (void *)buf, len, flags,
						(void *)dest_addr, addrlen, &error_number));
}

static ssize_t shim_write(void *userdata, int fd, const void *buf, size_t count)
{
	return shim_sendto(userdata, fd, buf, count, 0, NULL, 0);
}

static ssize_t shim_send(void *userdata, int fd, const void *buf, size_t len, int flags)
{
	return shim_sendto(userdata, fd, buf, len, flags, NULL, 0);
}

static size_t iovec_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

/* Reads into one temporary buffer, then scatters it over the iovecs. */
static ssize_t scatter_recvfrom(void *userdata, int fd, const struct iovec *iov, int iovcnt,
				int flags, struct sockaddr *src_addr, socklen_t *addrlen)
{
	size_t total = iovec_total(iov, iovcnt);
	char *bounce = malloc(total ? total : 1);
	if (!bounce) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t got = shim_recvfrom(userdata, fd, bounce, total, flags, src_addr, addrlen);
	int saved_errno = errno;
	size_t copied = 0;
	for (int i = 0; got > 0 && i < iovcnt && copied < (size_t)got; i++) {
		size_t part = iov[i].iov_len;
		if (part > (size_t)got - copied)
			part = (size_t)got - copied;
		if (iov[i].iov_base)
			memcpy(iov[i].iov_base, bounce + copied, part);
		copied += part;
	}
	free(bounce);
	errno = saved_errno;
	return got;
}

/* Gathers the iovecs into one temporary buffer, then sends it. */
static ssize_t gather_sendto(void *userdata, int fd, const struct iovec *iov, int iovcnt,
			     int flags, const struct sockaddr *dest_addr, socklen_t addrlen)
{
	size_t total = iovec_total(iov, iovcnt);
	char *bounce = calloc(total ? total : 1, 1);
	if (!bounce) {
		errno = ENOMEM;
		return -1;
	}
	size_t copied = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base)
			memcpy(bounce + copied, iov[i].iov_base, iov[i].iov_len);
		copied += iov[i].iov_len;
	}
	ssize_t sent = shim_sendto(userdata, fd, bounce, total, flags, dest_addr, addrlen);
	int saved_errno = errno;
	free(bounce);
	errno = saved_errno;
	return sent;
}

static ssize_t shim_readv(void *userdata, int fd, const struct iovec *iov, int iovcnt)
{
	return scatter_recvfrom(userdata, fd, iov, iovcnt, 0, NULL, NULL);
}

static ssize_t shim_writev(void *userdata, int fd, const struct iovec *iov, int iovcnt)
{
	return gather_sendto(userdata, fd, iov, iovcnt, 0, NULL, 0);
}

static ssize_t shim_recvmsg(void *userdata, int fd, struct msghdr *msg, int flags)
{
	socklen_t name_len = msg->msg_namelen;
	ssize_t got = scatter_recvfrom(userdata, fd, msg->msg_iov, (int)msg->msg_iovlen, flags,
				       msg->msg_name, msg->msg_name ? &name_len : NULL);
	if (got >= 0) {
		msg->msg_namelen = msg->msg_name ? name_len : 0;
		msg->msg_controllen = 0;
		msg->msg_flags = 0;
	}
	return got;
}

static ssize_t shim_sendmsg(void *userdata, int fd, const struct msghdr *msg, int flags)
{
	return gather_sendto(userdata, fd, msg->msg_iov, (int)msg->msg_iovlen, flags,
			     msg->msg_name, msg->msg_namelen);
}

static int shim_fcntl(void *userdata, int fd, int cmd, ...)
{
	int arg = 0;
	if (cmd == F_SETFL || cmd == F_SETFD) {
		va_list args;
		va_start(args, cmd);
		arg = va_arg(args, int);
		va_end(args);
	}
	RETURN_WITH_ERRNO(int, gvisorFcntl(handle_of(userdata), fd, cmd, arg, &error_number));
}

static int shim_ioctl(void *userdata, int fd, unsigned long request, ...)
{
	va_list args;
	va_start(args, request);
	int *arg = va_arg(args, int *);
	va_end(args);
	RETURN_WITH_ERRNO(int, gvisorIoctl(handle_of(userdata), fd, request, arg, &error_number));
}

static int shim_close(void *userdata, int fd)
{
	RETURN_WITH_ERRNO(int, gvisorClose(handle_of(userdata), fd, &error_number));
}

static int shim_shutdown(void *userdata, int fd, int how)
{
	RETURN_WITH_ERRNO(int, gvisorShutdown(handle_of(userdata), fd, how, &error_number));
}

static int shim_getsockopt(void *userdata, int fd, int level, int optname, void *optval,
			   socklen_t *optlen)
{
	RETURN_WITH_ERRNO(int, gvisorGetsockopt(handle_of(userdata), fd, level, optname, optval,
						optlen, &error_number));
}

static int shim_setsockopt(void *userdata, int fd, int level, int optname, const void *optval,
			   socklen_t optlen)
{
	RETURN_WITH_ERRNO(int, gvisorSetsockopt(handle_of(userdata), fd, level, optname,
						(void *)optval, optlen, &error_number));
}

static int shim_poll(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout)
{
	RETURN_WITH_ERRNO(int, gvisorPoll(handle_of(userdata), fds, nfds, timeout,
					  &error_number));
}

static int shim_epoll_create(void *userdata, int size)
{
	RETURN_WITH_ERRNO(int, gvisorEpollCreate(handle_of(userdata), size, &error_number));
}

/* struct epoll_event is packed on x86-64: the Go side takes its two fields apart. */
static int shim_epoll_ctl(void *userdata, int epfd, int op, int fd, struct epoll_event *event)
{
	uint32_t events = event ? event->events : 0;
	uint64_t data = event ? event->data.u64 : 0;
	RETURN_WITH_ERRNO(int, gvisorEpollCtl(handle_of(userdata), epfd, op, fd, events, data,
					      &error_number));
}

static int shim_epoll_wait(void *userdata, int epfd, struct epoll_event *events, int maxevents,
			   int timeout)
{
	if (maxevents <= 0) {
		errno = EINVAL;
		return -1;
	}
	uint32_t *masks = calloc((size_t)maxevents, sizeof(*masks));
	uint64_t *datas = calloc((size_t)maxevents, sizeof(*datas));
	if (!masks || !datas) {
		free(masks);
		free(datas);
		errno = ENOMEM;
		return -1;
	}
	int error_number = 0;
	int ready = gvisorEpollWait(handle_of(userdata), epfd, masks, datas, maxevents, timeout,
				    &error_number);
	for (int i = 0; i < ready; i++) {
		events[i].events = masks[i];
		events[i].data.u64 = datas[i];
	}
	free(masks);
	free(datas);
	if (ready < 0)
		errno = error_number;
	return ready;
}

static int shim_netdev_send(void *userdata, const void *buf, size_t count)
{
	return gvisorNetdevSend(handle_of(userdata), (void *)buf, count);
}

static int shim_netdev_receive(void *userdata, void *buf, size_t *count, long long *time_usecs)
{
	return gvisorNetdevReceive(handle_of(userdata), buf, count, time_usecs);
}

static int shim_usleep(void *userdata, useconds_t usec)
{
	return gvisorUsleep(handle_of(userdata), usec);
}

static int shim_gettimeofday(void *userdata, struct timeval *tv, struct timezone *tz)
{
	(void)tz;
	long long now_usecs = gvisorNowMicros(handle_of(userdata));
	tv->tv_sec = now_usecs / 1000000;
	tv->tv_usec = now_usecs % 1000000;
	return 0;
}

void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc)
{
	ifc->userdata = (void *)gvisorNewAdapter((char *)flags);
	ifc->free = shim_free;
	ifc->socket = shim_socket;
	ifc->bind = shim_bind;
	ifc->listen = shim_listen;
	ifc->accept = shim_accept;
	ifc->connect = shim_connect;
	ifc->read = shim_read;
	ifc->readv = shim_readv;
	ifc->recv = shim_recv;
	ifc->recvfrom = shim_recvfrom;
	ifc->recvmsg = shim_recvmsg;
	ifc->write = shim_write;
	ifc->writev = shim_writev;
	ifc->send = shim_send;
	ifc->sendto = shim_sendto;
	ifc->sendmsg = shim_sendmsg;
	ifc->fcntl = shim_fcntl;
	ifc->ioctl = shim_ioctl;
	ifc->close = shim_close;
	ifc->shutdown = shim_shutdown;
	ifc->getsockopt = shim_getsockopt;
	ifc->setsockopt = shim_setsockopt;
	ifc->poll = shim_poll;
	ifc->netdev_send = shim_netdev_send;
	ifc->netdev_receive = shim_netdev_receive;
	ifc->usleep = shim_usleep;
	ifc->gettimeofday = shim_gettimeofday;
	ifc->epoll_create = shim_epoll_create;
	ifc->epoll_ctl = shim_epoll_ctl;
	ifc->epoll_wait = shim_epoll_wait;
}

int stackdrill_network_setup(void *userdata, const struct stackdrill_network *net)
{
	return gvisorNetworkSetup(handle_of(userdata), net->family, (void *)net->local_ip,
				  net->prefix_len, (void *)net->gateway_ip, net->mtu);
}

int stackdrill_poll(void *userdata, long long *next_timer_usecs)
{
	return gvisorStackPoll(handle_of(userdata), next_timer_usecs);
}

int stackdrill_sockets(void *userdata, struct stackdrill_socket *out, int max)
{
	return gvisorSockets(handle_of(userdata), out, max);
}

int stackdrill_profile_defines(const char *flags, char *buf, size_t len)
{
	return gvisorProfileDefines((char *)flags, buf, len);
}
