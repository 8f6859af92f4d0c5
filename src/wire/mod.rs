//! wire: packet formats. Zero-copy checked views over byte buffers (Ethernet
//! with VLAN tags, IPv4, IPv6 with extension headers, UDP, TCP, ICMP/ICMPv6,
//! the ESP header), whole-frame parsing, flow-key extraction, the IPv4
//! checksum and the forwarding-path rewrites (TTL, hop limit, MACs), and
//! frame builders for tests and the traffic generator.
//!
//! Every view follows smoltcp: `new_checked` validates lengths once, after
//! which accessors never panic; a `mod field` per header holds its byte
//! ranges. Nothing here allocates (except the `Vec` builders), locks or logs.
//! This module owns no state and knows nothing of policies, SAs or ports.

pub mod build;
pub mod checksum;
pub mod error;
pub mod esp;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod key;
pub mod parse;
pub mod tcp;
pub mod udp;

pub use error::WireError;
pub use esp::EspPacket;
pub use ethernet::{l2_header_len, rewrite_macs, strip_l2, EthernetFrame};
pub use icmp::{IcmpPacket, Icmpv4Packet, Icmpv6Packet};
pub use ipv4::{ipv4_decrement_ttl, ipv4_header_checksum, Ipv4Packet};
pub use ipv6::{ipv6_decrement_hop_limit, walk_ext_headers, Ipv6Packet, UpperLayer};
pub use key::{flow_key, flow_key_l3};
pub use parse::{parse_frame, parse_l3, EspInfo, Fragment, ParsedFrame};
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub mod proto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
}
