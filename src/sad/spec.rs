//! SA specifications: what the configuration says an SA is.

use crate::ip::{Addr, Family};
use crate::spd::Mode;

/// The AEAD transform. Only RFC 4106 AES-GCM with a 16-byte ICV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlg {
    Aes128Gcm,
    Aes256Gcm,
}

impl AeadAlg {
    pub const fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            AeadAlg::Aes256Gcm => 32,
        }
    }
    /// Pick the algorithm from the length of key+salt (`ip xfrm`'s `rfc4106(gcm(aes))` key).
    pub fn from_keysalt_len(n: usize) -> Option<AeadAlg> {
        match n {
            20 => Some(AeadAlg::Aes128Gcm),
            36 => Some(AeadAlg::Aes256Gcm),
            _ => None,
        }
    }
}

/// SA lifetimes; 0 = none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SaLifetime {
    pub soft_bytes: u64,
    pub hard_bytes: u64,
    pub soft_packets: u64,
    pub hard_packets: u64,
    pub soft_add_secs: u64,
    pub hard_add_secs: u64,
    pub soft_use_secs: u64,
    pub hard_use_secs: u64,
}

/// SA state as Linux names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaState {
    /// Being negotiated: an acquire is outstanding; no traffic passes.
    Larval,
    Valid,
    Dead,
}

/// An SA as configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SaSpec {
    pub spi: u32,
    pub mode: Mode,
    /// Family of `src`/`dst` (the outer header in tunnel mode).
    pub family: Family,
    pub src: Addr,
    pub dst: Addr,
    pub reqid: u32,
    pub alg: AeadAlg,
    /// AES key, 16 or 32 bytes.
    pub key: Vec<u8>,
    /// RFC 4106 salt.
    pub salt: [u8; 4],
    /// Anti-replay window in packets; 0 = off.
    pub replay_window: u32,
    pub esn: bool,
    pub lifetime: SaLifetime,
}
