/* What bindgen cannot express: thread-local and macro-only parts of DPDK. */
#ifndef XFGATE_DPDK_HELPERS_H
#define XFGATE_DPDK_HELPERS_H
#include <stdint.h>

/* rte_errno is a per-lcore (thread-local) variable behind a macro. */
int xfg_rte_errno(void);
void xfg_rte_errno_set(int v);
/* RTE_MBUF_DEFAULT_BUF_SIZE and RTE_PKTMBUF_HEADROOM (build configuration). */
uint16_t xfg_mbuf_default_buf_size(void);
uint16_t xfg_pktmbuf_headroom(void);
/* RTE_MAX_LCORE, RTE_MAX_ETHPORTS */
unsigned xfg_max_lcore(void);
unsigned xfg_max_ethports(void);
/* The RSS hash functions xfgate asks for (IP, UDP, TCP; v4 and v6). */
uint64_t xfg_rss_ip_udp_tcp(void);
/* rte_version() as a string. */
const char *xfg_version(void);
#endif
