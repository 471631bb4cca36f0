/*
 * lwipopts.h: the lwIP configuration the stackdrill adapter builds lwIP with. lwIP runs bare
 * (NO_SYS=1, raw API only, no threads of its own) inside the adapter, which owns the socket
 * layer, the clock and the one network interface; the TCP options are chosen so that lwIP
 * shows what it can on the wire (window scaling, timestamps, SACK out).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef STACKDRILL_LWIPOPTS_H
#define STACKDRILL_LWIPOPTS_H

/* Bare lwIP: the adapter calls it under its own lock, from one thread at a time. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0

/* Memory from the C library: no pool to size for scripts that open many sockets. */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define PBUF_POOL_SIZE 64
#define MEMP_NUM_TCP_PCB 64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_TCP_SEG 1024
#define MEMP_NUM_UDP_PCB 16
#define MEMP_NUM_SYS_TIMEOUT 16

/* One IP interface, no link layer: packets are exchanged with stackdrill as IP packets. */
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_IPV6_MLD 0
/* 64-bit pointers do not fit in the fragment header lwIP reuses. */
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_ND6_QUEUEING 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_RAW 0
#define LWIP_ICMP 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_SINGLE_NETIF 1

/* TCP as capable as lwIP gets. */
/* <netinet/tcp.h> (for struct tcp_info) names its own TCP_MSS option: lwIP's wins here. */
#undef TCP_MSS
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7
#define TCP_WND (256 * 1024)
#define TCP_SND_BUF (256 * 1024)
#define TCP_SND_QUEUELEN 1024
#define TCP_SNDLOWAT (TCP_MSS * 2)
#define LWIP_TCP_TIMESTAMPS 1
#define LWIP_TCP_SACK_OUT 1
#define LWIP_TCP_MAX_SACK_NUM 4
#define TCP_QUEUE_OOSEQ 1
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 0xff
#define LWIP_TCP_KEEPALIVE 1
#define TCP_CALCULATE_EFF_SEND_MSS 1
/* RFC 6298's initial RTO of 1 s (lwIP's default is 3 s). */
#define LWIP_TCP_RTO_TIME 1000
/* lwIP's TCP timers tick every 10 ms (fast) and 20 ms (slow) instead of 250 and 500 ms, so
 * delayed ACKs and retransmissions leave close to their due time. Under the virtual clock the
 * ticks cost no real time. */
#define TCP_TMR_INTERVAL 10
#define SO_REUSE 1
#define LWIP_CALLBACK_API 1
#define LWIP_TCP_PCB_NUM_EXT_ARGS 0

/* Checksums are computed and checked in software. */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_UDP 1

#define LWIP_STATS 0
/* The C library's htons and friends. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0

#endif /* STACKDRILL_LWIPOPTS_H */
