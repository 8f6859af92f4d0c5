#include <rte_config.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_version.h>
#include "helpers.h"

int xfg_rte_errno(void) { return rte_errno; }
void xfg_rte_errno_set(int v) { rte_errno = v; }
uint16_t xfg_mbuf_default_buf_size(void) { return RTE_MBUF_DEFAULT_BUF_SIZE; }
uint16_t xfg_pktmbuf_headroom(void) { return RTE_PKTMBUF_HEADROOM; }
unsigned xfg_max_lcore(void) { return RTE_MAX_LCORE; }
unsigned xfg_max_ethports(void) { return RTE_MAX_ETHPORTS; }
uint64_t xfg_rss_ip_udp_tcp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP; }
const char *xfg_version(void) { return rte_version(); }
