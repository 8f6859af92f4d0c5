//! Arbitrary bytes through every checked view and the frame parser: no panic,
//! and whatever `parse_frame` accepts is consistent with the views.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xfgate::wire::{
    parse_frame, parse_l3, EspPacket, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet,
    TcpPacket, UdpPacket,
};

fuzz_target!(|data: &[u8]| {
    // Every view: accessors must not panic after new_checked.
    if let Ok(e) = EthernetFrame::new_checked(data) {
        let _ = (e.dst_addr(), e.src_addr(), e.ethertype(), e.inner_ethertype());
        for i in 0..3 {
            let _ = (e.vlan_tpid(i), e.vlan_tci(i), e.vlan_id(i));
        }
        assert!(e.header_len() + e.payload().len() == data.len());
    }
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (p.version(), p.tos(), p.ident(), p.frag_offset(), p.ttl(), p.protocol());
        let _ = (p.src_addr(), p.dst_addr(), p.options(), p.verify_checksum());
        assert!(p.header_len() + p.payload().len() == p.total_len() as usize);
        let _ = p.is_fragment();
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = (p.traffic_class(), p.flow_label(), p.hop_limit(), p.src_addr(), p.dst_addr());
        assert!(p.payload().len() == p.payload_len() as usize);
        if let Ok(u) = p.upper_layer() {
            assert!(u.offset <= p.payload().len());
        }
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let _ = (u.src_port(), u.dst_port(), u.checksum(), u.payload());
    }
    if let Ok(t) = TcpPacket::new_checked(data) {
        let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number(), t.flags());
        let _ = (t.window_len(), t.checksum(), t.urgent_at(), t.options(), t.payload());
    }
    if let Ok(i) = IcmpPacket::new_checked(data) {
        let _ = (i.msg_type(), i.msg_code(), i.echo_ident(), i.echo_seq_no(), i.payload());
    }
    if let Ok(e) = EspPacket::new_checked(data) {
        let _ = (e.spi(), e.sequence_number(), e.payload());
    }

    // The frame parser: offsets it returns lie within the buffer.
    if let Ok(p) = parse_frame(data) {
        assert!(p.l3_end() <= data.len());
        assert!(p.l3_offset as usize <= p.l4_offset as usize);
        assert!(p.l4_offset as usize <= p.l3_end());
        // The L3 part parses alone to the same upper layer.
        let q = parse_l3(&data[p.l3_offset as usize..]).expect("L3 part of a parsed frame");
        assert_eq!((q.l4_proto, q.sport, q.dport, q.frag, q.esp), (p.l4_proto, p.sport, p.dport, p.frag, p.esp));
        assert_eq!(q.l4_offset + p.l3_offset as u32, p.l4_offset);
    }
    if let Ok(p) = parse_l3(data) {
        assert!(p.l3_end() <= data.len());
    }
});
