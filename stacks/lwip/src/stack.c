/*
 * stack.c: the lwIP adapter's stack side: packetdrill_interface_init, lwIP's one network
 * interface (IP packets to and from stackdrill), the clock (virtual under driven polling,
 * real time otherwise) that is also lwIP's sys_now, and the stackdrill extensions
 * stackdrill_network_setup and stackdrill_poll.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/timeouts.h"

struct lwip_adapter *the_adapter;

/* Upstream packetdrill's defaults (its --local_ip is random in 192.168.0.0/16; a host that
 * never calls stackdrill_network_setup should pass --local_ip=192.168.0.2, or the adapter
 * takes the address the first inbound packet is sent to). */
#define DEFAULT_LOCAL_IPV4 "192.168.0.2"
#define DEFAULT_NETMASK_IPV4 "255.255.0.0"
#define DEFAULT_GATEWAY_IPV4 "192.168.0.1"
#define DEFAULT_MTU 1500

/* Where the virtual clock starts: 2023-11-14T22:13:20Z (as the smoltcp adapter's), so every
 * run has the same times, TCP timestamps included. */
#define VIRTUAL_CLOCK_EPOCH_USECS (1700000000LL * 1000000)

static long long real_time_usecs(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

long long adapter_now_usecs(struct lwip_adapter *adapter)
{
	return adapter->driven_polling ? adapter->virtual_now_usecs : real_time_usecs();
}

/* lwIP's clock, in milliseconds. */
u32_t sys_now(void)
{
	return (u32_t)(adapter_now_usecs(the_adapter) / 1000);
}

static void start_stack(struct lwip_adapter *adapter);

/* Any call but stackdrill_network_setup and stackdrill_poll: if it comes before the first
 * poll, the host does not drive polling and the adapter runs lwIP itself, on real time. */
void adapter_note_call(struct lwip_adapter *adapter)
{
	if (!adapter->stack_started)
		start_stack(adapter);
}

static void queue_push(struct packet_queue *queue, struct queued_packet *packet)
{
	QUEUE_APPEND(queue->head, queue->tail, packet, next);
}

static struct queued_packet *queue_pop(struct packet_queue *queue)
{
	struct queued_packet *packet = queue->head;
	if (packet) {
		queue->head = packet->next;
		if (!queue->head)
			queue->tail = NULL;
	}
	return packet;
}

static void queue_clear(struct packet_queue *queue)
{
	struct queued_packet *packet;
	while ((packet = queue_pop(queue)))
		free(packet);
}

static struct queued_packet *packet_copy(const void *data, size_t length, long long time_usecs)
{
	struct queued_packet *packet = malloc(sizeof(*packet) + length);
	if (!packet)
		return NULL;
	packet->time_usecs = time_usecs;
	packet->length = length;
	memcpy(packet->data, data, length);
	return packet;
}

/* lwIP sends a packet: it waits in the outbound queue for netdev_receive. */
static err_t queue_outbound_pbuf(struct pbuf *p)
{
	struct queued_packet *packet = malloc(sizeof(*packet) + p->tot_len);
	if (!packet)
		return ERR_MEM;
	packet->time_usecs = adapter_now_usecs(the_adapter);
	packet->length = pbuf_copy_partial(p, packet->data, p->tot_len, 0);
	queue_push(&the_adapter->outbound, packet);
	return ERR_OK;
}

static err_t netif_output_ipv4(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	(void)netif;
	(void)next_hop;
	return queue_outbound_pbuf(p);
}

static err_t netif_output_ipv6(struct netif *netif, struct pbuf *p, const ip6_addr_t *next_hop)
{
	(void)netif;
	(void)next_hop;
	return queue_outbound_pbuf(p);
}

static err_t netif_setup(struct netif *netif)
{
	netif->name[0] = 's';
	netif->name[1] = 'd';
	netif->mtu = DEFAULT_MTU;
	netif->output = netif_output_ipv4;
	netif->output_ip6 = netif_output_ipv6;
	netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

/* Hands one packet from the peer to lwIP. */
static void deliver_inbound(struct lwip_adapter *adapter, const unsigned char *data, size_t length)
{
	if (length == 0 || length > 0xffff)
		return;
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)length, PBUF_RAM);
	if (!p)
		return;
	pbuf_take(p, data, (u16_t)length);
	if (adapter->netif.input(p, &adapter->netif) != ERR_OK)
		pbuf_free(p);
}

/* Without stackdrill_network_setup the adapter does not know its address: it takes the one
 * the peer sends to (or binds to), so upstream packetdrill's random --local_ip works. */
void adapter_learn_local_address(struct lwip_adapter *adapter, const ip_addr_t *address)
{
	if (adapter->network_told || ip_addr_isany(address))
		return;
	if (IP_IS_V4(address)) {
		if (!ip4_addr_cmp(ip_2_ip4(address), netif_ip4_addr(&adapter->netif)))
			netif_set_ipaddr(&adapter->netif, ip_2_ip4(address));
	} else if (!ip6_addr_cmp_zoneless(ip_2_ip6(address), netif_ip6_addr(&adapter->netif, 1))) {
		netif_ip6_addr_set(&adapter->netif, 1, ip_2_ip6(address));
		netif_ip6_addr_set_state(&adapter->netif, 1, IP6_ADDR_PREFERRED);
	}
}

static void learn_from_inbound(struct lwip_adapter *adapter, const unsigned char *data, size_t length)
{
	ip_addr_t destination;
	if (length >= 20 && (data[0] >> 4) == 4) {
		IP_ADDR4(&destination, data[16], data[17], data[18], data[19]);
		adapter_learn_local_address(adapter, &destination);
	} else if (length >= 40 && (data[0] >> 4) == 6) {
		ip6_addr_t address;
		memcpy(&address.addr, data + 24, 16);
		ip6_addr_clear_zone(&address);
		ip_addr_copy_from_ip6(destination, address);
		adapter_learn_local_address(adapter, &destination);
	}
}

/* Everything due now: queued inbound packets, then lwIP's timers. Wakes blocked calls. */
void adapter_run_stack(struct lwip_adapter *adapter)
{
	struct queued_packet *packet;
	while ((packet = queue_pop(&adapter->inbound))) {
		deliver_inbound(adapter, packet->data, packet->length);
		free(packet);
	}
	sys_check_timeouts();
	pthread_cond_broadcast(&adapter->changed);
}

/* Sleeps until the stack ran (or the deadline on the stack's clock passed, when not -1).
 * Returns 0 when woken, ETIMEDOUT at the deadline. Called with the lock held. */
int adapter_wait(struct lwip_adapter *adapter, long long deadline_usecs)
{
	if (deadline_usecs >= 0 && adapter_now_usecs(adapter) >= deadline_usecs)
		return ETIMEDOUT;
	adapter->blocked_call_deadline_usecs = deadline_usecs;
	if (!adapter->driven_polling) {
		/* Nobody drives lwIP while this call sleeps but the host's netdev_receive: look
		 * again at least every millisecond of real time. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&adapter->changed, &adapter->lock, &until);
		sys_check_timeouts();
	} else {
		pthread_cond_wait(&adapter->changed, &adapter->lock);
	}
	adapter->blocked_call_deadline_usecs = -1;
	return 0;
}

static int netdev_send(void *userdata, const void *buf, size_t count)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	learn_from_inbound(adapter, buf, count);
	int result = 0;
	if (adapter->driven_polling) {
		struct queued_packet *packet = packet_copy(buf, count, adapter_now_usecs(adapter));
		if (packet)
			queue_push(&adapter->inbound, packet);
		else
			result = -1;
	} else {
		deliver_inbound(adapter, buf, count);
		adapter_run_stack(adapter);
	}
	pthread_mutex_unlock(&adapter->lock);
	return result;
}

static int netdev_receive(void *userdata, void *buf, size_t *count, long long *time_usecs)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	if (!adapter->driven_polling)
		adapter_run_stack(adapter);
	struct queued_packet *packet = queue_pop(&adapter->outbound);
	int result = -1;
	if (packet) {
		size_t length = packet->length < *count ? packet->length : *count;
		memcpy(buf, packet->data, length);
		*count = length;
		*time_usecs = packet->time_usecs;
		free(packet);
		result = 0;
	}
	pthread_mutex_unlock(&adapter->lock);
	return result;
}

static int adapter_usleep(void *userdata, useconds_t usec)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	if (adapter->driven_polling) {
		adapter->virtual_now_usecs += usec;
		pthread_mutex_unlock(&adapter->lock);
		return 0;
	}
	pthread_mutex_unlock(&adapter->lock);
	usleep(usec);
	pthread_mutex_lock(&adapter->lock);
	adapter_run_stack(adapter);
	pthread_mutex_unlock(&adapter->lock);
	return 0;
}

static int adapter_gettimeofday(void *userdata, struct timeval *tv, struct timezone *tz)
{
	(void)tz;
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	long long now = adapter_now_usecs(adapter);
	pthread_mutex_unlock(&adapter->lock);
	tv->tv_sec = now / 1000000;
	tv->tv_usec = now % 1000000;
	return 0;
}

static void adapter_free(void *userdata)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	socket_layer_close_all(adapter);
	queue_clear(&adapter->inbound);
	queue_clear(&adapter->outbound);
	pthread_mutex_unlock(&adapter->lock);
	/* lwIP's state is global and stays with the process; the adapter struct stays too, as
	 * lwIP's timers may still name it. */
}

EXPORTED void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc)
{
	(void)flags;
	struct lwip_adapter *adapter = calloc(1, sizeof(*adapter));
	if (!adapter)
		abort();
	pthread_mutex_init(&adapter->lock, NULL);
	pthread_cond_init(&adapter->changed, NULL);
	adapter->blocked_call_deadline_usecs = -1;
	the_adapter = adapter;

	*ifc = (struct packetdrill_interface){
		.userdata = adapter,
		.free = adapter_free,
		.netdev_send = netdev_send,
		.netdev_receive = netdev_receive,
		.usleep = adapter_usleep,
		.gettimeofday = adapter_gettimeofday,
	};
	socket_layer_fill_table(ifc);
}

static int prefix_to_netmask(int prefix_len, ip4_addr_t *netmask)
{
	if (prefix_len < 0 || prefix_len > 32)
		return -1;
	u32_t mask = prefix_len == 0 ? 0 : 0xffffffffu << (32 - prefix_len);
	ip4_addr_set_u32(netmask, lwip_htonl(mask));
	return 0;
}

/* Gives lwIP's interface the network stackdrill told (stackdrill_network_setup). */
static int apply_network(struct lwip_adapter *adapter, const struct stackdrill_network *net)
{
	if (net->mtu >= 576 && net->mtu <= 0xffff)
		adapter->netif.mtu = (u16_t)net->mtu;
	if (net->family == AF_INET) {
		ip4_addr_t address, netmask, gateway;
		memcpy(&address.addr, net->local_ip, 4);
		memcpy(&gateway.addr, net->gateway_ip, 4);
		if (prefix_to_netmask(net->prefix_len, &netmask) != 0)
			return -1;
		netif_set_addr(&adapter->netif, &address, &netmask, &gateway);
		return 0;
	}
	if (net->family == AF_INET6) {
		ip6_addr_t address;
		memcpy(&address.addr, net->local_ip, 16);
		ip6_addr_clear_zone(&address);
		netif_ip6_addr_set(&adapter->netif, 1, &address);
		netif_ip6_addr_set_state(&adapter->netif, 1, IP6_ADDR_PREFERRED);
		adapter->netif.mtu6 = adapter->netif.mtu;
		return 0;
	}
	return -1;
}

/* Starts lwIP on the clock chosen by then, with its one interface on the network it was told
 * (upstream packetdrill's defaults otherwise). */
static void start_stack(struct lwip_adapter *adapter)
{
	adapter->stack_started = true;
	lwip_init();
	ip4_addr_t address, netmask, gateway;
	ip4addr_aton(DEFAULT_LOCAL_IPV4, &address);
	ip4addr_aton(DEFAULT_NETMASK_IPV4, &netmask);
	ip4addr_aton(DEFAULT_GATEWAY_IPV4, &gateway);
	netif_add(&adapter->netif, &address, &netmask, &gateway, NULL, netif_setup, ip_input);
	netif_create_ip6_linklocal_address(&adapter->netif, 0);
	netif_set_default(&adapter->netif);
	netif_set_up(&adapter->netif);
	netif_set_link_up(&adapter->netif);
	if (adapter->network_told)
		apply_network(adapter, &adapter->network);
}

EXPORTED int stackdrill_network_setup(void *userdata, const struct stackdrill_network *net)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	int result = 0;
	if (net->family != AF_INET && net->family != AF_INET6)
		result = -1;
	else if (net->family == AF_INET && (net->prefix_len < 0 || net->prefix_len > 32))
		result = -1;
	adapter->network = *net;
	adapter->network_told = result == 0;
	if (adapter->stack_started && result == 0)
		result = apply_network(adapter, net);
	pthread_mutex_unlock(&adapter->lock);
	return result;
}

EXPORTED int stackdrill_poll(void *userdata, long long *next_timer_usecs)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	if (!adapter->stack_started) {
		/* The first call after setup: stackdrill drives polling, on the virtual clock. */
		adapter->driven_polling = true;
		adapter->virtual_now_usecs = VIRTUAL_CLOCK_EPOCH_USECS;
		start_stack(adapter);
	}
	adapter_run_stack(adapter);
	long long now = adapter_now_usecs(adapter);
	long long due = adapter->blocked_call_deadline_usecs;
	u32_t sleep_ms = sys_timeouts_sleeptime();
	if (sleep_ms != SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
		/* sys_now counts whole milliseconds: the timer is due at the start of its
		 * millisecond. */
		long long timer_due = (now / 1000 + sleep_ms) * 1000;
		if (due < 0 || timer_due < due)
			due = timer_due;
	}
	*next_timer_usecs = due < 0 ? -1 : due > now ? due - now : 0;
	pthread_mutex_unlock(&adapter->lock);
	return 0;
}
