//! Raw FFI bindings to the system's DPDK (22.11), generated at build time by
//! bindgen from `pkg-config libdpdk`. Never edited by hand.
//!
//! Static inline DPDK functions (`rte_eth_rx_burst`, `rte_pktmbuf_alloc`,
//! ...) are real symbols here, wrapped by bindgen's `wrap_static_fns`.
//! `rte_errno` is thread-local: read it with [`xfg_rte_errno`].

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]
#![allow(
    dead_code,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks
)]
#![allow(unsafe_op_in_unsafe_fn, improper_ctypes, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// The DPDK version the bindings were generated from (`pkg-config --modversion`).
pub const DPDK_VERSION: &str = env!("DPDK_SYS_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_link_and_report_build_constants() {
        // SAFETY: pure functions returning compile-time constants.
        unsafe {
            assert!(xfg_pktmbuf_headroom() >= 128);
            assert_eq!(
                u32::from(xfg_mbuf_default_buf_size()),
                2048 + u32::from(xfg_pktmbuf_headroom())
            );
            assert!(xfg_max_lcore() >= 2);
            assert_ne!(xfg_rss_ip_udp_tcp(), 0);
        }
        assert!(DPDK_VERSION.starts_with("22.11"));
    }

    #[test]
    fn rte_errno_is_per_thread() {
        // SAFETY: rte_errno is a plain thread-local int.
        unsafe {
            xfg_rte_errno_set(7);
            let other = std::thread::spawn(|| xfg_rte_errno()).join().unwrap();
            assert_eq!(other, 0);
            assert_eq!(xfg_rte_errno(), 7);
        }
    }
}
