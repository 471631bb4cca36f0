/*
 * introspection.c: what the lwIP adapter tells about itself: TCP_INFO from a pcb, the socket
 * table for stackdrill's /netstat and /ss (stackdrill_sockets), and the profile of script
 * defines where lwIP differs from Linux (stackdrill_profile_defines).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "lwip/priv/tcp_priv.h"

/* Linux's numbers for TCP states (include/net/tcp_states.h). */
enum linux_tcp_state_number {
	LINUX_TCP_ESTABLISHED = 1,
	LINUX_TCP_SYN_SENT = 2,
	LINUX_TCP_SYN_RECV = 3,
	LINUX_TCP_FIN_WAIT1 = 4,
	LINUX_TCP_FIN_WAIT2 = 5,
	LINUX_TCP_TIME_WAIT = 6,
	LINUX_TCP_CLOSE = 7,
	LINUX_TCP_CLOSE_WAIT = 8,
	LINUX_TCP_LAST_ACK = 9,
	LINUX_TCP_LISTEN = 10,
	LINUX_TCP_CLOSING = 11,
};

int linux_tcp_state(enum tcp_state state)
{
	switch (state) {
	case LISTEN:
		return LINUX_TCP_LISTEN;
	case SYN_SENT:
		return LINUX_TCP_SYN_SENT;
	case SYN_RCVD:
		return LINUX_TCP_SYN_RECV;
	case ESTABLISHED:
		return LINUX_TCP_ESTABLISHED;
	case FIN_WAIT_1:
		return LINUX_TCP_FIN_WAIT1;
	case FIN_WAIT_2:
		return LINUX_TCP_FIN_WAIT2;
	case CLOSE_WAIT:
		return LINUX_TCP_CLOSE_WAIT;
	case CLOSING:
		return LINUX_TCP_CLOSING;
	case LAST_ACK:
		return LINUX_TCP_LAST_ACK;
	case TIME_WAIT:
		return LINUX_TCP_TIME_WAIT;
	case CLOSED:
	default:
		return LINUX_TCP_CLOSE;
	}
}

/* struct tcp_info with what lwIP knows; the rest stays 0. `info` is a struct tcp_info. */
void fill_tcp_info(const struct tcp_pcb *pcb, void *info_out, unsigned int *info_len)
{
	struct tcp_info *info = info_out;
	memset(info, 0, sizeof(*info));
	info->tcpi_state = (u8_t)linux_tcp_state(pcb->state);
	if (pcb->state == LISTEN) {
		*info_len = sizeof(*info);
		return;
	}
	const u32_t slow_tick_us = TCP_SLOW_INTERVAL * 1000;
	info->tcpi_retransmits = pcb->nrtx;
	info->tcpi_backoff = pcb->nrtx;
	info->tcpi_options = 0;
#if LWIP_TCP_TIMESTAMPS
	if (pcb->flags & TF_TIMESTAMP)
		info->tcpi_options |= TCPI_OPT_TIMESTAMPS;
#endif
#if LWIP_WND_SCALE
	if (pcb->flags & TF_WND_SCALE) {
		info->tcpi_options |= TCPI_OPT_WSCALE;
		info->tcpi_snd_wscale = pcb->snd_scale;
		info->tcpi_rcv_wscale = pcb->rcv_scale;
	}
#endif
#if LWIP_TCP_SACK_OUT
	if (pcb->flags & TF_SACK)
		info->tcpi_options |= TCPI_OPT_SACK;
#endif
	info->tcpi_rto = (u32_t)pcb->rto * slow_tick_us;
	info->tcpi_snd_mss = pcb->mss;
	info->tcpi_rcv_mss = pcb->mss;
	/* sa is 8 times the smoothed RTT and sv 4 times its variation, in slow ticks. */
	info->tcpi_rtt = (u32_t)(pcb->sa >> 3) * slow_tick_us;
	info->tcpi_rttvar = (u32_t)(pcb->sv >> 2) * slow_tick_us;
	info->tcpi_snd_ssthresh = pcb->mss ? pcb->ssthresh / pcb->mss : 0;
	info->tcpi_snd_cwnd = pcb->mss ? pcb->cwnd / pcb->mss : 0;
	info->tcpi_advmss = TCP_MSS;
	info->tcpi_rcv_space = pcb->rcv_wnd;
	info->tcpi_total_retrans = pcb->nrtx;
	info->tcpi_unacked = 0;
	for (const struct tcp_seg *seg = pcb->unacked; seg; seg = seg->next)
		info->tcpi_unacked++;
	*info_len = sizeof(*info);
}

/* An address in the table's layout: IPv4 in the first 4 bytes, or IPv6; an IPv4 address of an
 * AF_INET6 socket (ipv4-mapped-ipv6 runs) as ::ffff:a.b.c.d, as the kernel shows it. */
static void copy_ip(unsigned char out[16], const ip_addr_t *ip, int family)
{
	memset(out, 0, 16);
	if (IP_IS_V4(ip) && family == AF_INET) {
		memcpy(out, &ip_2_ip4(ip)->addr, 4);
	} else if (IP_IS_V4(ip)) {
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &ip_2_ip4(ip)->addr, 4);
	} else if (IP_IS_V6(ip)) {
		memcpy(out, ip_2_ip6(ip)->addr, 16);
	}
}

static unsigned int bytes_unacked(const struct tcp_pcb *pcb)
{
	return (unsigned int)(pcb->snd_lbb - pcb->lastack);
}

/* One pcb's entry. */
static void describe_pcb(struct lwip_adapter *adapter, const struct tcp_pcb *pcb, struct stackdrill_socket *entry)
{
	memset(entry, 0, sizeof(*entry));
	const struct adapter_socket *sock = socket_for_tcp_pcb(adapter, pcb);
	entry->fd = sock ? sock->fd : -1;
	/* A pcb without a socket (TIME-WAIT after close) shows its addresses' own family. */
	int socket_family = sock ? sock->family : IP_IS_V4(&pcb->local_ip) ? AF_INET : AF_INET6;
	entry->family = IP_IS_V4(&pcb->local_ip) && socket_family == AF_INET ? AF_INET : AF_INET6;
	entry->protocol = IPPROTO_TCP;
	entry->state = linux_tcp_state(pcb->state);
	copy_ip(entry->local_ip, &pcb->local_ip, entry->family);
	entry->local_port = pcb->local_port;
	if (pcb->state == LISTEN) {
		unsigned int waiting = 0;
		for (const struct adapter_socket *q = sock ? sock->accept_head : NULL; q; q = q->accept_next)
			waiting++;
		entry->recv_queue = waiting;
		entry->send_queue = sock ? (unsigned int)sock->backlog : 0;
		return;
	}
	copy_ip(entry->remote_ip, &pcb->remote_ip, entry->family);
	entry->remote_port = pcb->remote_port;
	entry->recv_queue = sock ? (unsigned int)sock->received.length : 0;
	entry->send_queue = bytes_unacked(pcb);
	strcpy(entry->congestion, "reno");
	fill_tcp_info(pcb, entry->tcp_info, &entry->tcp_info_len);
}

EXPORTED int stackdrill_sockets(void *userdata, struct stackdrill_socket *out, int max)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	int count = 0;
	if (!adapter->stack_started) {
		pthread_mutex_unlock(&adapter->lock);
		return 0;
	}
	struct tcp_pcb *lists[] = { (struct tcp_pcb *)tcp_listen_pcbs.listen_pcbs, tcp_active_pcbs, tcp_tw_pcbs };
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		for (struct tcp_pcb *pcb = lists[l]; pcb; pcb = pcb->next) {
			if (count < max)
				describe_pcb(adapter, pcb, &out[count]);
			count++;
		}
	}
	pthread_mutex_unlock(&adapter->lock);
	return count;
}

/* Where lwIP differs from Linux, as the portable scripts name it (docs/stacks.md). */
static const char PROFILE[] =
	"LWIP=1\n"
	/* A keep-alive probe repeats the last acknowledged byte without data, as Linux. */
	"KEEPALIVE_PROBE_END=0\n"
	"KEEPALIVE_PROBE_LEN=0\n"
	/* A zero-window probe is the next new byte (relative 1:2(1)). */
	"ZERO_WINDOW_PROBE_START=1\n"
	"ZERO_WINDOW_PROBE_END=2\n"
	"ZERO_WINDOW_PROBE_LEN=1\n"
	/* RFC 3390's initial window: min(4 MSS, max(2 MSS, 4380)), 4 segments of 1000 bytes. */
	"INITIAL_CWND=4\n"
	/* Nothing to switch on: lwIP retransmits SYNs at a constant interval (see docs). */
	"EXPONENTIAL_SYN_BACKOFF=`true`\n";

EXPORTED int stackdrill_profile_defines(const char *flags, char *buf, size_t len)
{
	(void)flags;
	size_t needed = sizeof(PROFILE) - 1;
	if (buf && len > 0) {
		size_t copied = needed < len - 1 ? needed : len - 1;
		memcpy(buf, PROFILE, copied);
		buf[copied] = '\0';
	}
	return (int)needed;
}
