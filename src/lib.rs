//! xfgate: a poll-mode IPsec gateway data plane with a per-lcore bundle flow cache.
//!
//! Layers, from the bytes up:
//! - [`buf`]: the packet buffer abstraction (DPDK mbuf and software buffers implement it);
//! - [`wire`]: zero-copy header views and flow-key extraction;
//! - [`esp`]: RFC 4303 / RFC 4106 transforms and the anti-replay window;
//! - [`ip`], [`spd`], [`sad`], [`route`]: the objects the management core owns and their lookup tables;
//! - [`flow`]: the per-lcore flow cache of bundles;
//! - [`mgmt`]: the management core, the single writer of all of the above;
//! - [`datapath`], [`port`], [`config`], [`stats`]: the gateway built from them.
#![deny(unsafe_code)]

pub mod bench;
pub mod buf;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod datapath;
pub mod esp;
pub mod flow;
pub mod gateway;
pub mod ip;
pub mod mgmt;
pub mod port;
pub mod route;
pub mod sad;
pub mod spd;
pub mod stats;
pub mod wire;
