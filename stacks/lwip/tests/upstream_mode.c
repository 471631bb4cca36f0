/*
 * upstream_mode.c: drives the lwIP adapter the way upstream packetdrill does, calling none of
 * stackdrill's extensions: the adapter must then run lwIP itself on the host's real time and
 * find its address without stackdrill_network_setup. A passive open at an address only the
 * script knows (upstream's --local_ip is random), then the clock and a receive timeout. Exits 0
 * when all holds.
 * Run by `make -C stacks/lwip check`.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packetdrill.h"

#define LOCAL_IP "192.168.44.7"
#define REMOTE_IP "192.0.2.1"
#define LOCAL_PORT 8080
#define REMOTE_PORT 40000
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAILED", what);
	if (!ok)
		failures++;
}

static uint32_t sum_words(const unsigned char *data, size_t length, uint32_t sum)
{
	for (size_t i = 0; i + 1 < length; i += 2)
		sum += (uint32_t)(data[i] << 8 | data[i + 1]);
	if (length & 1)
		sum += (uint32_t)(data[length - 1] << 8);
	return sum;
}

static uint16_t fold_checksum(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4 TCP segment without options or payload from the peer to the stack. */
static size_t peer_segment(unsigned char *packet, uint8_t flags, uint32_t seq, uint32_t ack)
{
	memset(packet, 0, 40);
	packet[0] = 0x45;
	packet[3] = 40;
	packet[8] = 64;
	packet[9] = IPPROTO_TCP;
	inet_pton(AF_INET, REMOTE_IP, packet + 12);
	inet_pton(AF_INET, LOCAL_IP, packet + 16);
	uint16_t ip_checksum = fold_checksum(sum_words(packet, 20, 0));
	packet[10] = (unsigned char)(ip_checksum >> 8);
	packet[11] = (unsigned char)ip_checksum;
	unsigned char *tcp = packet + 20;
	tcp[0] = REMOTE_PORT >> 8;
	tcp[1] = REMOTE_PORT & 0xff;
	tcp[2] = LOCAL_PORT >> 8;
	tcp[3] = LOCAL_PORT & 0xff;
	uint32_t seq_be = htonl(seq), ack_be = htonl(ack);
	memcpy(tcp + 4, &seq_be, 4);
	memcpy(tcp + 8, &ack_be, 4);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	tcp[14] = 0x20; /* window 8192 */
	unsigned char pseudo[12] = { 0 };
	memcpy(pseudo, packet + 12, 8);
	pseudo[9] = IPPROTO_TCP;
	pseudo[11] = 20;
	uint16_t tcp_checksum = fold_checksum(sum_words(tcp, 20, sum_words(pseudo, 12, 0)));
	tcp[16] = (unsigned char)(tcp_checksum >> 8);
	tcp[17] = (unsigned char)tcp_checksum;
	return 40;
}

/* Polls netdev_receive for up to a second of real time, as packetdrill would. */
static int receive_packet(struct packetdrill_interface *ifc, unsigned char *buf, size_t *count)
{
	for (int attempt = 0; attempt < 1000; attempt++) {
		size_t room = *count;
		long long sent_at;
		if (ifc->netdev_receive(ifc->userdata, buf, &room, &sent_at) == 0) {
			*count = room;
			return 0;
		}
		usleep(1000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s libstackdrill_lwip.so\n", argv[0]);
		return 2;
	}
	void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!library) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	packetdrill_interface_init_t init = (packetdrill_interface_init_t)dlsym(library, "packetdrill_interface_init");
	struct packetdrill_interface ifc;
	memset(&ifc, 0, sizeof(ifc));
	init(NULL, &ifc);
	void *ud = ifc.userdata;

	int listener = ifc.socket(ud, AF_INET, SOCK_STREAM, IPPROTO_TCP);
	check(listener == 3, "the first socket is fd 3");
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(LOCAL_PORT) };
	inet_pton(AF_INET, LOCAL_IP, &local.sin_addr);
	check(ifc.bind(ud, listener, (struct sockaddr *)&local, sizeof(local)) == 0, "bind to the script's address");
	check(ifc.listen(ud, listener, 1) == 0, "listen");

	unsigned char packet[2048];
	size_t length = peer_segment(packet, TCP_FLAG_SYN, 1000, 0);
	check(ifc.netdev_send(ud, packet, length) == 0, "netdev_send takes the SYN");
	size_t count = sizeof(packet);
	int got = receive_packet(&ifc, packet, &count);
	check(got == 0 && count >= 40 && packet[9] == IPPROTO_TCP, "a TCP packet comes back");
	uint32_t their_seq = 0;
	if (got == 0 && count >= 40) {
		unsigned char *tcp = packet + 20;
		check((tcp[13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK), "it is a SYN-ACK");
		char source[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, packet + 12, source, sizeof(source));
		check(strcmp(source, LOCAL_IP) == 0, "from the address the script bound");
		memcpy(&their_seq, tcp + 4, 4);
		their_seq = ntohl(their_seq);
	}
	length = peer_segment(packet, TCP_FLAG_ACK, 1001, their_seq + 1);
	ifc.netdev_send(ud, packet, length);
	int accepted = ifc.accept(ud, listener, NULL, NULL);
	check(accepted == 4, "accept returns the connection as fd 4");

	struct timeval before, after;
	ifc.gettimeofday(ud, &before, NULL);
	ifc.usleep(ud, 20000);
	ifc.gettimeofday(ud, &after, NULL);
	long long elapsed = (after.tv_sec - before.tv_sec) * 1000000LL + (after.tv_usec - before.tv_usec);
	check(elapsed >= 20000, "usleep sleeps and the clock follows real time");
	struct timeval host;
	gettimeofday(&host, NULL);
	check(llabs(host.tv_sec - after.tv_sec) <= 1, "the clock is the host's");

	struct timeval receive_timeout = { .tv_sec = 0, .tv_usec = 30000 };
	check(ifc.setsockopt(ud, accepted, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof(receive_timeout)) == 0,
	      "setsockopt SO_RCVTIMEO");
	char byte;
	ifc.gettimeofday(ud, &before, NULL);
	ssize_t nothing = ifc.read(ud, accepted, &byte, 1);
	int read_errno = errno;
	ifc.gettimeofday(ud, &after, NULL);
	elapsed = (after.tv_sec - before.tv_sec) * 1000000LL + (after.tv_usec - before.tv_usec);
	check(nothing == -1 && read_errno == EAGAIN && elapsed >= 30000, "a read with nothing to read times out with EAGAIN");

	ifc.close(ud, accepted);
	ifc.close(ud, listener);
	ifc.free(ud);
	return failures ? 1 : 0;
}
