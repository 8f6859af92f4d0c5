//! Why a frame was not accepted: one variant per reason, countable in an array.

/// A malformed or unsupported frame.
///
/// The enum is fieldless and `#[repr(u8)]`, so the data path counts drops in
/// `[u64; WireError::COUNT]` indexed by [`WireError::index`], and exports them
/// under the stable names of [`WireError::reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum WireError {
    /// The Ethernet header or a VLAN tag is cut short by the end of the buffer.
    #[error("truncated Ethernet header")]
    TruncatedL2 = 0,
    /// More than two VLAN tags.
    #[error("more than two VLAN tags")]
    TooManyVlanTags,
    /// The EtherType is neither IPv4 nor IPv6.
    #[error("unsupported EtherType")]
    UnsupportedEthertype,
    /// The IPv4 or IPv6 header (options included) is cut short by the end of the buffer.
    #[error("truncated IP header")]
    TruncatedL3,
    /// The IP version does not match the EtherType (or is neither 4 nor 6).
    #[error("bad IP version")]
    BadVersion,
    /// IPv4 IHL below 5.
    #[error("bad IPv4 header length (IHL)")]
    BadIhl,
    /// IPv4 total length below the header length or beyond the buffer.
    #[error("bad IPv4 total length")]
    BadTotalLength,
    /// IPv6 payload length beyond the buffer.
    #[error("bad IPv6 payload length")]
    BadPayloadLength,
    /// IPv6 extension header misplaced or repeated (RFC 8200 section 4.1).
    #[error("bad IPv6 extension header order")]
    BadExtHeader,
    /// IPv6 extension header runs past the end of the payload.
    #[error("IPv6 extension header overruns the packet")]
    ExtHeaderOverrun,
    /// More IPv6 extension headers than [`crate::wire::ipv6::MAX_EXT_HEADERS`].
    #[error("too many IPv6 extension headers")]
    TooManyExtHeaders,
    /// The upper-layer header (UDP, TCP, ICMP, ESP, ...) is cut short.
    #[error("truncated upper-layer header")]
    TruncatedL4,
    /// TCP data offset below 5 or beyond the segment.
    #[error("bad TCP data offset")]
    BadDataOffset,
    /// UDP length field below 8 or beyond the datagram.
    #[error("bad UDP length")]
    BadUdpLength,
    /// A checksum does not verify.
    #[error("bad checksum")]
    BadChecksum,
    /// TTL or hop limit would reach zero: the packet must not be forwarded.
    #[error("TTL exceeded")]
    TtlExceeded,
}

impl WireError {
    /// Number of variants: the length of a drop-counter array.
    pub const COUNT: usize = 16;

    /// Every variant, in index order.
    pub const ALL: [WireError; WireError::COUNT] = [
        WireError::TruncatedL2,
        WireError::TooManyVlanTags,
        WireError::UnsupportedEthertype,
        WireError::TruncatedL3,
        WireError::BadVersion,
        WireError::BadIhl,
        WireError::BadTotalLength,
        WireError::BadPayloadLength,
        WireError::BadExtHeader,
        WireError::ExtHeaderOverrun,
        WireError::TooManyExtHeaders,
        WireError::TruncatedL4,
        WireError::BadDataOffset,
        WireError::BadUdpLength,
        WireError::BadChecksum,
        WireError::TtlExceeded,
    ];

    /// Index into a `[_; WireError::COUNT]` counter array.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable short name for counters and statistics output.
    pub const fn reason(&self) -> &'static str {
        match self {
            WireError::TruncatedL2 => "truncated-l2",
            WireError::TooManyVlanTags => "too-many-vlan-tags",
            WireError::UnsupportedEthertype => "unsupported-ethertype",
            WireError::TruncatedL3 => "truncated-l3",
            WireError::BadVersion => "bad-version",
            WireError::BadIhl => "bad-ihl",
            WireError::BadTotalLength => "bad-total-length",
            WireError::BadPayloadLength => "bad-payload-length",
            WireError::BadExtHeader => "bad-ext-header",
            WireError::ExtHeaderOverrun => "ext-header-overrun",
            WireError::TooManyExtHeaders => "too-many-ext-headers",
            WireError::TruncatedL4 => "truncated-l4",
            WireError::BadDataOffset => "bad-data-offset",
            WireError::BadUdpLength => "bad-udp-length",
            WireError::BadChecksum => "bad-checksum",
            WireError::TtlExceeded => "ttl-exceeded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_unique() {
        for (i, e) in WireError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
        }
        let mut names: Vec<&str> = WireError::ALL.iter().map(|e| e.reason()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WireError::COUNT);
        assert!(names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')));
    }

    #[test]
    fn counts_in_an_array() {
        let mut drops = [0u64; WireError::COUNT];
        drops[WireError::BadIhl.index()] += 1;
        drops[WireError::TtlExceeded.index()] += 2;
        assert_eq!(drops[5], 1);
        assert_eq!(drops[WireError::COUNT - 1], 2);
    }
}
