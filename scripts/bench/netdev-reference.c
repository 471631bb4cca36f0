// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * netdev-reference: the smallest program that does what stackdrill's netdev benchmark measures,
 * as a yardstick (scripts/bench-netdev.sh compiles and runs it beside benches/netdev.rs).
 *
 * In the calling process's network namespace (the benchmark gives it a private one), a kernel
 * TCP listener on 192.168.42.2:8080 and a wire to it:
 *   tun  a tun device (IFF_TUN | IFF_NO_PI), IP packets written and read on its fd (blocking);
 *   tap  DPDK's EAL and a net_tap virtual device, Ethernet frames sent with rte_eth_tx_burst
 *        and busy-polled with rte_eth_rx_burst; the peer is a permanent ARP entry, so the
 *        kernel never asks for its MAC.
 *   veth a veth pair (made with `ip link`), Ethernet frames sent and received on the peer's end
 *        through an AF_PACKET socket (blocking); the peer is a permanent ARP entry too.
 * Then, ITERATIONS times (after a short warm-up): a hand-built SYN from the peer 192.168.0.1
 * with a fresh source port, read until the listener's SYN-ACK, then a RST so the listener
 * forgets the half-open connection. Prints one parseable line:
 *   reference mode=M iterations=N median_us=X p99_us=Y [eal_init_ms=A pool_ms=B port_ms=C] setup_ms=D
 * (setup_ms: everything before the first SYN, the kernel side's configuration and the listener
 * included; pool_ms: the mbuf pool; port_ms: vdev creation, queues, port start, link up).
 *
 * Usage: netdev-reference tun|tap|veth [ITERATIONS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/ethernet.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define IFACE "ref0"
#define PEER_IFACE "ref0peer"
#define LOCAL_IP "192.168.42.2"
#define PEER_IP "192.168.0.1"
#define LISTEN_PORT 8080
#define WARMUP 20
#define TIMEOUT_NS 1000000000LL

static const uint8_t peer_mac[6] = {0x02, 0x00, 0x5d, 0x00, 0x00, 0x01};

static void die(const char *what)
{
	fprintf(stderr, "netdev-reference: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t sum16(const uint8_t *data, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)data[i] << 8 | data[i + 1];
	if (len & 1)
		sum += (uint32_t)data[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4 TCP segment from the peer to the listener, checksums filled in; returns its length. */
static size_t tcp_packet(uint8_t *p, uint16_t sport, uint32_t seq, uint8_t flags)
{
	size_t options = flags & 0x02 ? 4 : 0; /* a SYN carries MSS 1460 */
	size_t tcp_len = 20 + options, len = 20 + tcp_len;
	uint32_t src, dst;
	inet_pton(AF_INET, PEER_IP, &src);
	inet_pton(AF_INET, LOCAL_IP, &dst);
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = len >> 8;
	p[3] = len & 0xff;
	p[6] = 0x40; /* don't fragment */
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	memcpy(p + 12, &src, 4);
	memcpy(p + 16, &dst, 4);
	uint16_t ip_sum = fold(sum16(p, 20, 0));
	p[10] = ip_sum >> 8;
	p[11] = ip_sum & 0xff;
	uint8_t *t = p + 20;
	t[0] = sport >> 8;
	t[1] = sport & 0xff;
	t[2] = LISTEN_PORT >> 8;
	t[3] = LISTEN_PORT & 0xff;
	t[4] = seq >> 24;
	t[5] = seq >> 16;
	t[6] = seq >> 8;
	t[7] = seq;
	t[12] = (uint8_t)((tcp_len / 4) << 4);
	t[13] = flags;
	t[14] = 0xff; /* window 65535 */
	t[15] = 0xff;
	if (options) {
		t[20] = 2;
		t[21] = 4;
		t[22] = 1460 >> 8;
		t[23] = 1460 & 0xff;
	}
	uint32_t pseudo = sum16(p + 12, 8, 0) + IPPROTO_TCP + (uint32_t)tcp_len;
	uint16_t tcp_sum = fold(sum16(t, tcp_len, pseudo));
	t[16] = tcp_sum >> 8;
	t[17] = tcp_sum & 0xff;
	return len;
}

/* Whether the IP packet is the listener's SYN-ACK to source port `sport`. */
static int is_syn_ack(const uint8_t *p, size_t len, uint16_t sport)
{
	if (len < 40 || p[0] >> 4 != 4 || p[9] != IPPROTO_TCP)
		return 0;
	const uint8_t *t = p + (p[0] & 0x0f) * 4;
	if ((size_t)(t - p) + 20 > len)
		return 0;
	uint16_t from = (uint16_t)(t[0] << 8 | t[1]), to = (uint16_t)(t[2] << 8 | t[3]);
	return from == LISTEN_PORT && to == sport && (t[13] & 0x12) == 0x12;
}

static int listener(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(LISTEN_PORT)};
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, LOCAL_IP, &addr.sin_addr);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind " LOCAL_IP ":8080");
	if (listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static void set_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, value, strlen(value)) < 0)
			fprintf(stderr, "netdev-reference: %s: %s\n", path, strerror(errno));
		close(fd);
	}
}

/* The kernel side of the wire: no IPv6 chatter, LOCAL_IP/16, up; with `arp`, the peer's MAC as
 * a permanent neighbour. Returns the interface's MAC. */
static void configure_interface(int arp, uint8_t mac[6])
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	if (fd < 0)
		die("socket(AF_INET, SOCK_DGRAM)");
	set_sysctl("/proc/sys/net/ipv6/conf/" IFACE "/disable_ipv6", "1");
	strncpy(ifr.ifr_name, IFACE, IFNAMSIZ - 1);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, LOCAL_IP, &sin->sin_addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		die("SIOCSIFADDR");
	inet_pton(AF_INET, "255.255.0.0", &sin->sin_addr);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		die("SIOCSIFNETMASK");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS");
	if (arp) {
		struct arpreq req = {0};
		struct sockaddr_in *pa = (struct sockaddr_in *)&req.arp_pa;
		pa->sin_family = AF_INET;
		inet_pton(AF_INET, PEER_IP, &pa->sin_addr);
		req.arp_ha.sa_family = ARPHRD_ETHER;
		memcpy(req.arp_ha.sa_data, peer_mac, 6);
		req.arp_flags = ATF_PERM | ATF_COM;
		strncpy(req.arp_dev, IFACE, sizeof(req.arp_dev) - 1);
		if (ioctl(fd, SIOCSARP, &req) < 0)
			die("SIOCSARP");
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
			die("SIOCGIFHWADDR");
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	}
	close(fd);
}

/* One wire: send an IP packet; wait (until deadline_ns) for the SYN-ACK to `sport`. */
struct wire {
	void (*send)(struct wire *, const uint8_t *, size_t);
	int (*await_syn_ack)(struct wire *, uint16_t sport, int64_t deadline_ns);
	int tun_fd;
	uint16_t port;
	struct rte_mempool *pool;
	uint8_t stack_mac[6];
};

static void tun_send(struct wire *w, const uint8_t *p, size_t len)
{
	if (write(w->tun_fd, p, len) != (ssize_t)len)
		die("write(tun)");
}

/* Reads frames from the wire's fd (a tun device: bare IP packets; a packet socket: Ethernet
 * frames, `link_header` = 14) until the SYN-ACK to `sport` or the deadline. */
static int fd_await(struct wire *w, uint16_t sport, int64_t deadline_ns, size_t link_header)
{
	uint8_t buf[2048];
	for (;;) {
		int64_t left = deadline_ns - now_ns();
		struct pollfd pfd = {.fd = w->tun_fd, .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, (int)(left / 1000000) + 1) == 0)
			return 0;
		ssize_t n = read(w->tun_fd, buf, sizeof(buf));
		if (n < 0)
			die("read(wire)");
		int ipv4 = link_header == 0 || (buf[12] == 0x08 && buf[13] == 0x00);
		if ((size_t)n > link_header && ipv4 &&
		    is_syn_ack(buf + link_header, (size_t)n - link_header, sport))
			return 1;
	}
}

static int tun_await(struct wire *w, uint16_t sport, int64_t deadline_ns)
{
	return fd_await(w, sport, deadline_ns, 0);
}

static size_t ethernet_frame(struct wire *w, uint8_t *buf, const uint8_t *p, size_t len);

static void tap_send(struct wire *w, const uint8_t *p, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
	if (!m)
		die("rte_pktmbuf_alloc");
	uint8_t *frame = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + len));
	ethernet_frame(w, frame, p, len);
	while (rte_eth_tx_burst(w->port, 0, &m, 1) == 0)
		;
}

static int tap_await(struct wire *w, uint16_t sport, int64_t deadline_ns)
{
	struct rte_mbuf *burst[32];
	while (now_ns() < deadline_ns) {
		uint16_t got = rte_eth_rx_burst(w->port, 0, burst, 32), found = 0;
		for (uint16_t i = 0; i < got; i++) {
			const uint8_t *f = rte_pktmbuf_mtod(burst[i], const uint8_t *);
			size_t len = rte_pktmbuf_data_len(burst[i]);
			if (len > 14 && f[12] == 0x08 && f[13] == 0x00 &&
			    is_syn_ack(f + 14, len - 14, sport))
				found = 1;
			rte_pktmbuf_free(burst[i]);
		}
		if (found)
			return 1;
	}
	return 0;
}

/* A frame from the peer to the stack around IP packet p, in buf (room for 14 + len). */
static size_t ethernet_frame(struct wire *w, uint8_t *buf, const uint8_t *p, size_t len)
{
	memcpy(buf, w->stack_mac, 6);
	memcpy(buf + 6, peer_mac, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	memcpy(buf + 14, p, len);
	return 14 + len;
}

static void veth_send(struct wire *w, const uint8_t *p, size_t len)
{
	uint8_t frame[2048];
	size_t n = ethernet_frame(w, frame, p, len);
	if (send(w->tun_fd, frame, n, 0) != (ssize_t)n)
		die("send(AF_PACKET)");
}

static int veth_await(struct wire *w, uint16_t sport, int64_t deadline_ns)
{
	return fd_await(w, sport, deadline_ns, 14);
}

/* The pair, the stack's end configured, an AF_PACKET socket on the peer's end (which sees
 * only what arrives: PACKET_IGNORE_OUTGOING). */
static void open_veth(struct wire *w)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int one = 1;
	if (system("ip link add " IFACE " type veth peer name " PEER_IFACE
		   " && ip link set " PEER_IFACE " up") != 0)
		die("ip link add (veth)");
	set_sysctl("/proc/sys/net/ipv6/conf/" PEER_IFACE "/disable_ipv6", "1");
	configure_interface(1, w->stack_mac);
	w->tun_fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (w->tun_fd < 0)
		die("socket(AF_PACKET)");
	ll.sll_ifindex = (int)if_nametoindex(PEER_IFACE);
	if (setsockopt(w->tun_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		die("PACKET_IGNORE_OUTGOING");
	if (bind(w->tun_fd, (struct sockaddr *)&ll, sizeof(ll)) < 0)
		die("bind(AF_PACKET)");
	w->send = veth_send;
	w->await_syn_ack = veth_await;
}

static void open_tun(struct wire *w)
{
	struct ifreq ifr = {0};
	uint8_t unused[6];
	w->tun_fd = open("/dev/net/tun", O_RDWR);
	if (w->tun_fd < 0)
		die("/dev/net/tun");
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, IFACE, IFNAMSIZ - 1);
	if (ioctl(w->tun_fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	configure_interface(0, unused);
	w->send = tun_send;
	w->await_syn_ack = tun_await;
}

/* EAL with the main lcore allowed on every CPU this process may use (as stackdrill starts it:
 * otherwise EAL pins the thread to one CPU). */
static void start_eal(const char *argv0)
{
	static char lcores[512];
	cpu_set_t set;
	size_t at = (size_t)snprintf(lcores, sizeof(lcores), "--lcores=0@(");
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		die("sched_getaffinity");
	for (int cpu = 0; cpu < CPU_SETSIZE && at + 8 < sizeof(lcores); cpu++)
		if (CPU_ISSET(cpu, &set))
			at += (size_t)snprintf(lcores + at, sizeof(lcores) - at, "%d,", cpu);
	lcores[at - 1] = ')';
	char *args[] = {(char *)argv0, "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--no-telemetry", "--log-level=error", lcores, NULL};
	if (rte_eal_init((int)(sizeof(args) / sizeof(args[0])) - 1, args) < 0) {
		fprintf(stderr, "netdev-reference: rte_eal_init failed\n");
		exit(1);
	}
	sched_setaffinity(0, sizeof(set), &set);
}

/* The buffer pool, as many mbufs as stackdrill's (AF_XDP ports need 8191). */
static void create_pool(struct wire *w)
{
	w->pool = rte_pktmbuf_pool_create("reference", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!w->pool)
		die("rte_pktmbuf_pool_create");
}

static void open_tap(struct wire *w)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_link link;
	if (rte_vdev_init("net_tap_reference", "iface=" IFACE) != 0)
		die("rte_vdev_init(net_tap)");
	if (rte_eth_dev_get_port_by_name("net_tap_reference", &w->port) != 0)
		die("rte_eth_dev_get_port_by_name");
	if (rte_eth_dev_configure(w->port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(w->port, 0, 512, SOCKET_ID_ANY, NULL, w->pool) != 0 ||
	    rte_eth_tx_queue_setup(w->port, 0, 512, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(w->port) != 0)
		die("port setup");
	rte_eth_promiscuous_enable(w->port);
	for (int tries = 0; tries < 3000; tries++) {
		if (rte_eth_link_get_nowait(w->port, &link) == 0 && link.link_status)
			break;
		usleep(1000);
	}
	w->send = tap_send;
	w->await_syn_ack = tap_await;
}

static int compare(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct wire w = {0};
	int tap = argc > 1 && strcmp(argv[1], "tap") == 0;
	int veth = argc > 1 && strcmp(argv[1], "veth") == 0;
	long iterations = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
	double eal_ms = 0, pool_ms = 0, port_ms = 0;
	if (argc < 2 || (!tap && !veth && strcmp(argv[1], "tun") != 0) || iterations < 1) {
		fprintf(stderr, "usage: %s tun|tap|veth [ITERATIONS]\n", argv[0]);
		return 2;
	}
	int64_t start = now_ns();
	if (tap) {
		start_eal(argv[0]);
		int64_t pool_start = now_ns();
		eal_ms = (double)(pool_start - start) / 1e6;
		create_pool(&w);
		int64_t port_start = now_ns();
		pool_ms = (double)(port_start - pool_start) / 1e6;
		open_tap(&w);
		port_ms = (double)(now_ns() - port_start) / 1e6;
		configure_interface(1, w.stack_mac);
	} else if (veth) {
		open_veth(&w);
	} else {
		open_tun(&w);
	}
	int listen_fd = listener();
	double setup_ms = (double)(now_ns() - start) / 1e6;

	int64_t *rtt = calloc((size_t)iterations, sizeof(*rtt));
	uint8_t packet[64];
	if (!rtt)
		die("calloc");
	for (long i = -WARMUP; i < iterations; i++) {
		uint16_t sport = (uint16_t)(20000 + (i + WARMUP) % 40000);
		uint32_t isn = 1000000u * (uint32_t)(i + WARMUP + 1);
		size_t len = tcp_packet(packet, sport, isn, 0x02);
		int64_t sent = now_ns();
		w.send(&w, packet, len);
		if (!w.await_syn_ack(&w, sport, sent + TIMEOUT_NS)) {
			fprintf(stderr, "netdev-reference: no SYN-ACK within 1 s (iteration %ld)\n", i);
			return 1;
		}
		int64_t took = now_ns() - sent;
		if (i >= 0)
			rtt[i] = took;
		len = tcp_packet(packet, sport, isn + 1, 0x04);
		w.send(&w, packet, len);
	}
	qsort(rtt, (size_t)iterations, sizeof(*rtt), compare);
	long p99 = (long)((double)iterations * 0.99);
	if (p99 >= iterations)
		p99 = iterations - 1;
	printf("reference mode=%s iterations=%ld median_us=%.2f p99_us=%.2f", argv[1], iterations,
	       (double)rtt[iterations / 2] / 1e3, (double)rtt[p99] / 1e3);
	if (tap)
		printf(" eal_init_ms=%.1f pool_ms=%.1f port_ms=%.1f", eal_ms, pool_ms, port_ms);
	printf(" setup_ms=%.1f\n", setup_ms);
	close(listen_fd);
	free(rtt);
	if (tap) {
		rte_eth_dev_stop(w.port);
		rte_eth_dev_close(w.port);
		rte_vdev_uninit("net_tap_reference");
		rte_eal_cleanup();
	} else {
		close(w.tun_fd);
	}
	return 0;
}
