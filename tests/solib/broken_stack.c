/*
 * A deliberately broken userspace stack, for stackdrill's tests of defensive loading
 * (tests/userspace_broken.rs). It is no TCP/IP stack at all: it hands out fds, swallows every
 * packet and keeps a virtual clock. Each word of --so_flags turns on one misbehaviour:
 *
 *   null_entries   leaves everything but socket, the netdev and the clock NULL
 *   never_returns  accept() sleeps forever
 *   spins          accept() busy-loops forever (never sleeps)
 *   bogus_lengths  read() returns more than asked; getsockopt() grows *optlen
 *   bogus_address  accept() succeeds with an address length of 4096
 *   big_packet     netdev_receive() reports a packet larger than the buffer
 *   frozen_clock   usleep() does not move the clock
 *   refuse_network stackdrill_network_setup() fails
 *   segfault       listen() writes through a NULL pointer
 *   aborts         listen() calls abort()
 *   exits          listen() calls exit(0), as if all were well
 *   exits_at_once  listen() calls _exit(0), which skips every exit handler
 *   deadlock       listen() returns holding the stack's lock, which its netdev, clock and
 *                  polling entries then wait for forever
 *   spin_receive   netdev_receive() busy-loops forever (never sleeps)
 *   leak_fds       socket() opens /dev/null until no descriptor is left, and keeps them all
 *   overflow       read() writes 1 GiB past the end of the buffer it is given
 *   overruns       read() and getsockopt() write 8 bytes past the end of their buffer,
 *                  readv() past its last iovec's, recvmsg() past its control buffer
 *   never_inits    packetdrill_interface_init() never returns
 *   spin_getsockopt getsockopt() busy-loops forever (never sleeps)
 *
 * Without flags it is merely silent: netdev_receive() never has a packet.
 */
#include "packetdrill.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct broken {
	long long now_usecs;
	int next_fd;
	int null_entries, never_returns, spins, bogus_lengths, bogus_address, big_packet,
	    frozen_clock, refuse_network, segfault, aborts, exits, exits_at_once, deadlock,
	    spin_receive, leak_fds, overflow, overruns, spin_getsockopt;
	/* Taken by listen() and never released with `deadlock`; waited for by every entry of
	 * the stack thread. */
	pthread_mutex_t lock;
};

/* The stack thread's entries pass through the stack's lock (all of them with `deadlock`). */
static void through_lock(struct broken *b)
{
	if (!b->deadlock)
		return;
	pthread_mutex_lock(&b->lock);
	pthread_mutex_unlock(&b->lock);
}

static int has_word(const char *flags, const char *word)
{
	size_t len = strlen(word);
	const char *p = flags;

	while (p && (p = strstr(p, word)) != NULL) {
		int starts = p == flags || p[-1] == ' ' || p[-1] == ',';
		int ends = p[len] == '\0' || p[len] == ' ' || p[len] == ',';
		if (starts && ends)
			return 1;
		p += len;
	}
	return 0;
}

static void broken_free(void *ud)
{
	free(ud);
}

static int broken_socket(void *ud, int domain, int type, int protocol)
{
	struct broken *b = ud;
	(void)domain, (void)type, (void)protocol;
	if (b->leak_fds)
		while (open("/dev/null", O_RDONLY) >= 0)
			;
	return b->next_fd++;
}

static int broken_ok(void *ud, int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)ud, (void)fd, (void)addr, (void)len;
	return 0;
}

static int broken_listen(void *ud, int fd, int backlog)
{
	struct broken *b = ud;
	int *volatile nowhere = NULL;
	(void)fd, (void)backlog;
	if (b->segfault)
		*nowhere = 1;
	if (b->aborts)
		abort();
	if (b->exits)
		exit(0);
	if (b->exits_at_once)
		_exit(0);
	if (b->deadlock)
		pthread_mutex_lock(&b->lock);
	return 0;
}

static int broken_connect(void *ud, int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)ud, (void)fd, (void)addr, (void)len;
	errno = EINPROGRESS;
	return -1;
}

static int broken_accept(void *ud, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct broken *b = ud;
	volatile unsigned long spins = 0;
	(void)fd, (void)addr;
	if (b->never_returns)
		for (;;)
			pause();
	if (b->spins)
		for (;;)
			spins++;
	if (b->bogus_address) {
		*len = 4096;
		return b->next_fd++;
	}
	errno = EAGAIN;
	return -1;
}

static ssize_t broken_read(void *ud, int fd, void *buf, size_t count)
{
	struct broken *b = ud;
	(void)fd;
	if (b->overflow)
		memset(buf, 'A', count + (1UL << 30));
	if (b->overruns) {
		memset(buf, 'A', count + 8);
		return (ssize_t)count;
	}
	if (b->bogus_lengths)
		return (ssize_t)count * 10 + 1;
	errno = EAGAIN;
	return -1;
}

static ssize_t broken_readv(void *ud, int fd, const struct iovec *iov, int iovcnt)
{
	struct broken *b = ud;
	(void)fd;
	if (b->overruns && iovcnt > 0) {
		memset(iov[iovcnt - 1].iov_base, 'A', iov[iovcnt - 1].iov_len + 8);
		return (ssize_t)iov[iovcnt - 1].iov_len;
	}
	errno = EAGAIN;
	return -1;
}

static ssize_t broken_recvmsg(void *ud, int fd, struct msghdr *msg, int flags)
{
	struct broken *b = ud;
	(void)fd, (void)flags;
	if (b->overruns && msg->msg_control) {
		memset(msg->msg_control, 0, msg->msg_controllen + 8);
		return 0;
	}
	errno = EAGAIN;
	return -1;
}

static int broken_close(void *ud, int fd)
{
	(void)ud, (void)fd;
	return 0;
}

static int broken_getsockopt(void *ud, int fd, int level, int name, void *value, socklen_t *len)
{
	struct broken *b = ud;
	volatile unsigned long spins = 0;
	(void)fd, (void)level, (void)name;
	if (b->spin_getsockopt)
		for (;;)
			spins++;
	memset(value, 0, *len + (b->overruns ? 8 : 0));
	if (b->bogus_lengths)
		*len += 100;
	return 0;
}

static int broken_netdev_send(void *ud, const void *buf, size_t count)
{
	(void)buf, (void)count;
	through_lock(ud);
	return 0;
}

static int broken_netdev_receive(void *ud, void *buf, size_t *count, long long *time_usecs)
{
	struct broken *b = ud;
	volatile unsigned long spins = 0;
	(void)buf;
	through_lock(b);
	if (b->spin_receive)
		for (;;)
			spins++;
	if (b->big_packet) {
		*count = *count * 2;
		*time_usecs = b->now_usecs;
		return 0;
	}
	return -1;
}

static int broken_usleep(void *ud, useconds_t usecs)
{
	struct broken *b = ud;
	through_lock(b);
	if (!b->frozen_clock)
		b->now_usecs += usecs;
	return 0;
}

static int broken_gettimeofday(void *ud, struct timeval *tv, struct timezone *tz)
{
	struct broken *b = ud;
	(void)tz;
	through_lock(b);
	tv->tv_sec = b->now_usecs / 1000000;
	tv->tv_usec = b->now_usecs % 1000000;
	return 0;
}

void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc)
{
	struct broken *b;

	if (has_word(flags, "never_inits"))
		for (;;)
			pause();
	b = calloc(1, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->now_usecs = 1000000000LL * 1000000LL;
	b->next_fd = 3;
	b->null_entries = has_word(flags, "null_entries");
	b->never_returns = has_word(flags, "never_returns");
	b->spins = has_word(flags, "spins");
	b->bogus_lengths = has_word(flags, "bogus_lengths");
	b->bogus_address = has_word(flags, "bogus_address");
	b->big_packet = has_word(flags, "big_packet");
	b->frozen_clock = has_word(flags, "frozen_clock");
	b->refuse_network = has_word(flags, "refuse_network");
	b->segfault = has_word(flags, "segfault");
	b->aborts = has_word(flags, "aborts");
	b->exits = has_word(flags, "exits");
	b->exits_at_once = has_word(flags, "exits_at_once");
	b->deadlock = has_word(flags, "deadlock");
	b->spin_receive = has_word(flags, "spin_receive");
	b->leak_fds = has_word(flags, "leak_fds");
	b->overflow = has_word(flags, "overflow");
	b->overruns = has_word(flags, "overruns");
	b->spin_getsockopt = has_word(flags, "spin_getsockopt");

	ifc->userdata = b;
	ifc->free = broken_free;
	ifc->socket = broken_socket;
	ifc->netdev_send = broken_netdev_send;
	ifc->netdev_receive = broken_netdev_receive;
	ifc->usleep = broken_usleep;
	ifc->gettimeofday = broken_gettimeofday;
	if (b->null_entries)
		return;
	ifc->bind = broken_ok;
	ifc->listen = broken_listen;
	ifc->connect = broken_connect;
	ifc->accept = broken_accept;
	ifc->read = broken_read;
	ifc->readv = broken_readv;
	ifc->recvmsg = broken_recvmsg;
	ifc->close = broken_close;
	ifc->getsockopt = broken_getsockopt;
}

int stackdrill_network_setup(void *ud, const struct stackdrill_network *net)
{
	struct broken *b = ud;
	(void)net;
	return b->refuse_network ? -1 : 0;
}

/* Nothing is ever scheduled: a call that sleeps can never be woken. */
int stackdrill_poll(void *ud, long long *next_timer_usecs)
{
	through_lock(ud);
	*next_timer_usecs = -1;
	return 0;
}
