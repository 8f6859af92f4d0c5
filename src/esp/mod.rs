//! ESP: RFC 4303 encapsulation and decapsulation with RFC 4106 AES-GCM, and
//! the RFC 4303 anti-replay window (with ESN).
//!
//! Owns: the ESP bytes of a packet (ESP header, IV, trailer, ICV), the outer
//! IP header of tunnel mode, the per-SA cipher context ([`EspSa`]), the
//! outbound sequence counter ([`SeqCounter`]) and the inbound replay window
//! ([`ReplayWindow`]).
//! May not touch: SA lookup (the caller finds the SA by (spi, dst)), SA
//! lifetimes and state (mgmt), L2 headers (the caller strips and adds them).
//! It parses the few IP header fields it needs itself, bounds-checked.
//!
//! Per-packet functions never allocate, lock or log; the payload is encrypted
//! and decrypted in place, and only IP headers are moved (transport mode).

pub mod cipher;
pub mod decap;
pub mod encap;
mod hdr;
pub mod replay;
pub mod sa;
pub mod seq;

pub use cipher::{AwsLcGcm, CipherError, EspAead};
pub use decap::{decapsulate, Decapped};
pub use encap::{encapsulate, encapsulate_with_iv, frame, seal, Framed};
pub use replay::{BadWindowSize, ReplayError, ReplayWindow};
pub use sa::{DfMode, EspSa, InboundState, OuterOpts, SaError};
pub use seq::{SeqCounter, SeqExhausted};

/// SPI + sequence number.
pub const ESP_HDR_LEN: usize = 8;
/// RFC 4106 section 3.1: the explicit IV is 8 bytes.
pub const IV_LEN: usize = 8;
/// RFC 4106: we use only the 16-byte ICV.
pub const ICV_LEN: usize = 16;
/// RFC 4106 section 4: nonce = salt (4) || explicit IV (8).
pub const NONCE_LEN: usize = 12;
/// RFC 4106 section 4: the salt.
pub const SALT_LEN: usize = 4;

/// IP protocol numbers used here.
pub const IPPROTO_ESP: u8 = 50;
/// IPv4-in-IP (the next header of a tunnel-mode ESP packet carrying IPv4).
pub const IPPROTO_IPIP: u8 = 4;
/// IPv6-in-IP.
pub const IPPROTO_IPV6: u8 = 41;
/// RFC 4303 section 2.6: "No Next Header", the next header of a dummy packet.
pub const IPPROTO_NONE: u8 = 59;

/// Why an ESP operation refused a packet. Each variant is a drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    #[error("packet shorter than its headers")]
    Truncated,
    #[error("malformed IP header (version, header length or total length)")]
    BadIpHeader,
    #[error("IP family of the packet does not match the SA")]
    FamilyMismatch,
    #[error("not an ESP packet")]
    NotEsp,
    #[error("IP fragment (reassemble before ESP processing)")]
    Fragment,
    #[error("SPI does not match the SA")]
    SpiMismatch,
    #[error("anti-replay: {0}")]
    Replay(#[from] ReplayError),
    #[error("ICV verification failed")]
    IcvFail,
    #[error("bad ESP padding")]
    BadPadding,
    #[error("unexpected next header in the ESP trailer")]
    BadNextHeader,
    #[error("decrypted inner packet is malformed")]
    BadInner,
    #[error("dummy packet (next header 59)")]
    Dummy,
    #[error("RFC 6040: outer CE on a Not-ECT inner packet")]
    EcnDrop,
    #[error("not enough headroom for the ESP headers")]
    NoHeadroom,
    #[error("not enough tailroom for the ESP trailer and ICV")]
    NoTailroom,
    #[error("packet would exceed the IP length limit")]
    TooBig,
    #[error("sequence number 0 or beyond 2^32-1 without ESN")]
    BadSeq,
    #[error("cipher failure")]
    Cipher,
}

impl EspError {
    /// A short fixed name for drop counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            EspError::Truncated => "esp_truncated",
            EspError::BadIpHeader => "esp_bad_ip_header",
            EspError::FamilyMismatch => "esp_family_mismatch",
            EspError::NotEsp => "esp_not_esp",
            EspError::Fragment => "esp_fragment",
            EspError::SpiMismatch => "esp_spi_mismatch",
            EspError::Replay(ReplayError::Duplicate) => "esp_replay_duplicate",
            EspError::Replay(ReplayError::TooOld) => "esp_replay_too_old",
            EspError::IcvFail => "esp_icv_fail",
            EspError::BadPadding => "esp_bad_padding",
            EspError::BadNextHeader => "esp_bad_next_header",
            EspError::BadInner => "esp_bad_inner",
            EspError::Dummy => "esp_dummy",
            EspError::EcnDrop => "esp_ecn_drop",
            EspError::NoHeadroom => "esp_no_headroom",
            EspError::NoTailroom => "esp_no_tailroom",
            EspError::TooBig => "esp_too_big",
            EspError::BadSeq => "esp_bad_seq",
            EspError::Cipher => "esp_cipher",
        }
    }
}

/// RFC 4106 section 5: the AAD.
///
/// ```text
/// AAD Format with 32-bit Sequence Number:  SPI | 32-bit Sequence Number
/// AAD Format with 64-bit Extended Sequence Number:
///     SPI | Sequence Number (high 32 bits) | Sequence Number (low 32 bits)
/// ```
/// Returns the buffer and the number of bytes used (8 or 12).
#[inline]
pub(crate) fn aad(spi: u32, seq: u64, esn: bool) -> ([u8; 12], usize) {
    let mut a = [0u8; 12];
    a[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        a[4..12].copy_from_slice(&seq.to_be_bytes());
        (a, 12)
    } else {
        a[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        (a, 8)
    }
}

/// RFC 4106 section 4: the nonce is the salt followed by the explicit IV.
#[inline]
pub(crate) fn nonce(salt: &[u8; SALT_LEN], iv: &[u8; IV_LEN]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_layouts() {
        let (a, n) = aad(0x0102_0304, 0x1111_2222_3333_4444, false);
        assert_eq!(&a[..n], &[1, 2, 3, 4, 0x33, 0x33, 0x44, 0x44]);
        let (a, n) = aad(0x0102_0304, 0x1111_2222_3333_4444, true);
        assert_eq!(
            &a[..n],
            &[1, 2, 3, 4, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44]
        );
        let n = nonce(&[9, 8, 7, 6], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(n, [9, 8, 7, 6, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn reasons_distinct() {
        let all = [
            EspError::Truncated,
            EspError::BadIpHeader,
            EspError::FamilyMismatch,
            EspError::NotEsp,
            EspError::Fragment,
            EspError::SpiMismatch,
            EspError::Replay(ReplayError::Duplicate),
            EspError::Replay(ReplayError::TooOld),
            EspError::IcvFail,
            EspError::BadPadding,
            EspError::BadNextHeader,
            EspError::BadInner,
            EspError::Dummy,
            EspError::EcnDrop,
            EspError::NoHeadroom,
            EspError::NoTailroom,
            EspError::TooBig,
            EspError::BadSeq,
            EspError::Cipher,
        ];
        let mut names: Vec<_> = all.iter().map(|e| e.reason()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
