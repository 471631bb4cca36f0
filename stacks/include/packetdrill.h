/*
 * packetdrill.h: the interface between stackdrill and a userspace TCP/IP stack built as a
 * shared object (`stackdrill --so_filename=libfoo.so --so_flags=...`).
 *
 * Written for stackdrill (MIT OR Apache-2.0). The table below is laid out field for field like
 * upstream packetdrill's `struct packetdrill_interface`, so an adapter written for packetdrill
 * loads in stackdrill unchanged, and one written against this header loads in packetdrill.
 * stacks/README.md states the contract (threads, time, errors) in full.
 */
#ifndef STACKDRILL_PACKETDRILL_H
#define STACKDRILL_PACKETDRILL_H

#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The socket API of the stack, plus its network device and its clock. Every entry takes the
 * `userdata` the library stored in the first field. Socket calls return what the libc call
 * would, and on failure -1 with the thread's errno set. A NULL entry means "not implemented":
 * stackdrill fails the script line that needs it, naming the call.
 */
struct packetdrill_interface {
	void *userdata;
	void (*free)(void *userdata);
	int (*socket)(void *userdata, int domain, int type, int protocol);
	int (*bind)(void *userdata, int sockfd, const struct sockaddr *addr, socklen_t addrlen);
	int (*listen)(void *userdata, int sockfd, int backlog);
	int (*accept)(void *userdata, int sockfd, struct sockaddr *addr, socklen_t *addrlen);
	int (*connect)(void *userdata, int sockfd, const struct sockaddr *addr, socklen_t addrlen);
	ssize_t (*read)(void *userdata, int fd, void *buf, size_t count);
	ssize_t (*readv)(void *userdata, int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*recv)(void *userdata, int sockfd, void *buf, size_t len, int flags);
	ssize_t (*recvfrom)(void *userdata, int sockfd, void *buf, size_t len, int flags,
			    struct sockaddr *src_addr, socklen_t *addrlen);
	ssize_t (*recvmsg)(void *userdata, int sockfd, struct msghdr *msg, int flags);
	ssize_t (*write)(void *userdata, int fd, const void *buf, size_t count);
	ssize_t (*writev)(void *userdata, int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*send)(void *userdata, int sockfd, const void *buf, size_t len, int flags);
	ssize_t (*sendto)(void *userdata, int sockfd, const void *buf, size_t len, int flags,
			  const struct sockaddr *dest_addr, socklen_t addrlen);
	ssize_t (*sendmsg)(void *userdata, int sockfd, const struct msghdr *msg, int flags);
	/* Called as fcntl(ud, fd, cmd) or fcntl(ud, fd, cmd, int arg). */
	int (*fcntl)(void *userdata, int fd, int cmd, ...);
	/* Called as ioctl(ud, fd, request) or ioctl(ud, fd, request, int *arg). */
	int (*ioctl)(void *userdata, int fd, unsigned long request, ...);
	int (*close)(void *userdata, int fd);
	int (*shutdown)(void *userdata, int sockfd, int how);
	int (*getsockopt)(void *userdata, int sockfd, int level, int optname, void *optval,
			  socklen_t *optlen);
	int (*setsockopt)(void *userdata, int sockfd, int level, int optname, const void *optval,
			  socklen_t optlen);
	int (*poll)(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout);

	/* One layer-3 IP packet (IPv4 or IPv6 header first) from the simulated peer into the
	 * stack. Returns 0, or non-zero when the packet could not be taken. */
	int (*netdev_send)(void *userdata, const void *buf, size_t count);
	/* The next IP packet the stack sent. In: *count = size of buf. On a packet: copy it, set
	 * *count to its length and *time_usecs to when it left (the gettimeofday clock), return 0.
	 * Nothing queued: return non-zero at once (never block; stackdrill keeps its own
	 * deadlines). */
	int (*netdev_receive)(void *userdata, void *buf, size_t *count, long long *time_usecs);
	/* The stack's clock. When both are set, stackdrill keeps all script time on it: waiting
	 * means calling usleep, so a stack with a virtual clock runs its timers without real
	 * sleeping. When either is NULL, stackdrill uses the host's CLOCK_REALTIME. */
	int (*usleep)(void *userdata, useconds_t usec);
	int (*gettimeofday)(void *userdata, struct timeval *tv, struct timezone *tz);

	int (*epoll_create)(void *userdata, int size);
	int (*epoll_ctl)(void *userdata, int epfd, int op, int fd, struct epoll_event *event);
	int (*epoll_wait)(void *userdata, int epfd, struct epoll_event *events, int maxevents,
			  int timeout);
	int (*pipe)(void *userdata, int pipefd[2]);
	int (*splice)(void *userdata, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out,
		      size_t len, unsigned int flags);
};

/* The one required symbol: fill in `ifc` (handed over zeroed). `flags` is --so_flags, or NULL
 * when it was not given. Called once per script run. */
void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc);
typedef void (*packetdrill_interface_init_t)(const char *flags, struct packetdrill_interface *ifc);

/*
 * stackdrill extensions. All optional: stackdrill looks each one up with dlsym after loading,
 * and packetdrill ignores them.
 */

/* The test network, told once, right after packetdrill_interface_init and before any other
 * call. Addresses are in network byte order, IPv4 in the first 4 bytes. `family` is the IP
 * version on the wire (AF_INET also for ipv4-mapped-ipv6 runs, whose sockets are AF_INET6). */
struct stackdrill_network {
	int family;
	unsigned char local_ip[16];   /* the stack's own address */
	int prefix_len;               /* of the local subnet */
	unsigned char gateway_ip[16]; /* next hop for everything outside that subnet */
	unsigned char remote_ip[16];  /* the simulated peer */
	int mtu;                      /* of the link, IP header included */
};
/* Returns 0, or non-zero when the stack cannot work on this network (the run stops). */
int stackdrill_network_setup(void *userdata, const struct stackdrill_network *net);
typedef int (*stackdrill_network_setup_t)(void *userdata, const struct stackdrill_network *net);

/* Called by stackdrill's stack thread between every two operations: let the stack do all work
 * due at its current time (received packets, due timers, packets to send). Returns 0 and sets
 * *next_timer_usecs to the time until the stack next needs a poll, or -1 when it has nothing
 * scheduled. With a virtual clock, this is how stackdrill knows how far it may advance time
 * in one usleep while it waits for a packet. Non-zero return: the run stops.
 *
 * Driven polling: stackdrill calls stackdrill_poll once right after stackdrill_network_setup,
 * before any other call, and then between operations. A library may take that first call as
 * the sign that stackdrill drives its polling: from then on netdev_send may only queue the
 * packet and usleep only move the clock, and socket calls need not run the stack either,
 * leaving all processing (received packets, due timers, sending) to stackdrill_poll —
 * stackdrill polls right after every netdev_send, usleep and socket call, and at every timer
 * the stack reports. That is what lets /pollinghang stop the stack: while a hang lasts,
 * stackdrill moves the clock but calls neither stackdrill_poll nor netdev_send (packets wait
 * in stackdrill) nor netdev_receive. */
int stackdrill_poll(void *userdata, long long *next_timer_usecs);
typedef int (*stackdrill_poll_t)(void *userdata, long long *next_timer_usecs);

/* One socket of the stack, for stackdrill's netstat/ss introspection (/netstat, /ss). */
struct stackdrill_socket {
	int fd;                      /* the stack's fd for it, or -1 (e.g. TIME_WAIT after close) */
	int family;                  /* AF_INET or AF_INET6: of the addresses below */
	int protocol;                /* IPPROTO_TCP (UDP sockets may be listed too) */
	int state;                   /* Linux TCP state numbers: TCP_ESTABLISHED 1 ... TCP_LISTEN 10, TCP_CLOSING 11 */
	unsigned char local_ip[16];  /* network order, IPv4 in the first 4 bytes */
	unsigned char remote_ip[16]; /* all zero for a listener */
	unsigned short local_port;   /* host order */
	unsigned short remote_port;  /* 0 for a listener */
	unsigned int recv_queue;     /* bytes received, not yet read; a listener: connections waiting for accept() */
	unsigned int send_queue;     /* bytes sent or queued, not yet acknowledged; a listener: its backlog */
	char congestion[16];         /* congestion control name ("reno"), NUL-terminated, or empty */
	unsigned int tcp_info_len;   /* bytes of tcp_info filled, 0 when unknown */
	unsigned char tcp_info[256]; /* struct tcp_info, Linux layout; fields the stack does not know are 0 */
};
/* Fills up to `max` entries and returns how many sockets there are (call again with a bigger
 * array when that is more than max), or -1 on error. */
int stackdrill_sockets(void *userdata, struct stackdrill_socket *out, int max);
typedef int (*stackdrill_sockets_t)(void *userdata, struct stackdrill_socket *out, int max);

/* The stack's profile of script defines: values where stacks legitimately differ (initial
 * window, minimum RTO...), so one script runs unchanged on several stacks. Writes
 * "NAME=VALUE\n" lines (NUL-terminated, at most `len` bytes with the NUL) for these flags
 * (--so_flags or NULL) into buf, and returns the length the full text needs without the NUL
 * (call again with a bigger buffer when it is >= len), or -1 on error. Called before the
 * script is parsed, without userdata; defines given with -D or in the script win. */
int stackdrill_profile_defines(const char *flags, char *buf, size_t len);
typedef int (*stackdrill_profile_defines_t)(const char *flags, char *buf, size_t len);

/* A DPDK port for the stack (`--netdev=dpdk`). stackdrill starts DPDK's EAL, makes two ethdev
 * ports wired to each other in-process (net_ring), keeps one as the simulated peer's end and
 * hands the other to the stack. The library must link the same librte_* shared objects as
 * stackdrill, so both share the one EAL of the process. */
struct stackdrill_dpdk_port {
	unsigned short port_id;     /* a started ethdev port */
	unsigned short queue_id;    /* its rx and tx queue for the stack */
	unsigned char mac[6];       /* the stack's MAC: frames from the peer are addressed to it */
	unsigned char peer_mac[6];  /* the simulated peer's (and gateway's) MAC, for information */
	void *mempool;              /* struct rte_mempool *: where the stack may allocate the mbufs
				     * it sends (never NULL from stackdrill) */
};
/* Called on the stack thread after stackdrill_network_setup and before the first
 * stackdrill_poll, only when the run uses --netdev=dpdk. From then on the stack sends and
 * receives Ethernet frames on that port (rte_eth_rx_burst / rte_eth_tx_burst on queue_id) and
 * resolves its neighbours itself (ARP, NDP: stackdrill answers for every address but the
 * stack's own), only from inside its entry points (stackdrill_poll, and socket calls, usleep
 * for a stack that runs itself), never from a thread of its own; stackdrill no longer calls
 * netdev_send or netdev_receive. The port stays open until after free. Returns 0, or non-zero
 * when the stack cannot use the port (the run stops). A library without this symbol cannot run
 * with --netdev=dpdk. */
int stackdrill_dpdk_attach(void *userdata, const struct stackdrill_dpdk_port *port);
typedef int (*stackdrill_dpdk_attach_t)(void *userdata, const struct stackdrill_dpdk_port *port);

#ifdef __cplusplus
}
#endif

#endif /* STACKDRILL_PACKETDRILL_H */
