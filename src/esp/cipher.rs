//! The AEAD behind ESP: a small trait for RFC 4106 AES-GCM, and the aws-lc-rs
//! backend.
//!
//! The trait works in place with a separate 16-byte ICV, so a second backend
//! (Intel ipsec-mb, as DPDK's crypto PMDs use) can be added without touching
//! the ESP code. The key schedule is built once per SA, never per packet.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

use super::{ICV_LEN, NONCE_LEN};
use crate::sad::AeadAlg;

/// A cipher failure: a bad key at set-up, or a failed seal/open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("key of {got} bytes for {alg:?} (expected {})", alg.key_len())]
    BadKey { alg: AeadAlg, got: usize },
    /// Authentication failed on open (or, on seal, the library refused).
    #[error("AEAD operation failed")]
    Failed,
}

/// An RFC 4106 AEAD keyed for one SA.
///
/// `nonce` is the 12-byte salt || explicit IV (RFC 4106 section 4), `aad` the
/// 8- or 12-byte AAD (section 5). `data` is encrypted or decrypted in place.
pub trait EspAead: Send + Sync {
    /// The algorithm this key is for.
    fn alg(&self) -> AeadAlg;

    /// Encrypt `data` in place and write the ICV to `icv`.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
        icv: &mut [u8; ICV_LEN],
    ) -> Result<(), CipherError>;

    /// Verify `icv` and decrypt `data` in place. On failure `data` holds
    /// unspecified bytes and must be dropped.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
        icv: &[u8; ICV_LEN],
    ) -> Result<(), CipherError>;
}

/// AES-GCM from aws-lc-rs (`LessSafeKey`: the nonce is ours to manage, and
/// RFC 4106 makes it unique per key through the sequence number).
pub struct AwsLcGcm {
    key: LessSafeKey,
    alg: AeadAlg,
}

impl AwsLcGcm {
    /// Build the key schedule for `alg` from the AES key (without the salt).
    pub fn new(alg: AeadAlg, key: &[u8]) -> Result<AwsLcGcm, CipherError> {
        if key.len() != alg.key_len() {
            return Err(CipherError::BadKey {
                alg,
                got: key.len(),
            });
        }
        let algorithm = match alg {
            AeadAlg::Aes128Gcm => &AES_128_GCM,
            AeadAlg::Aes256Gcm => &AES_256_GCM,
        };
        let unbound = UnboundKey::new(algorithm, key).map_err(|_| CipherError::BadKey {
            alg,
            got: key.len(),
        })?;
        Ok(AwsLcGcm {
            key: LessSafeKey::new(unbound),
            alg,
        })
    }
}

impl std::fmt::Debug for AwsLcGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsLcGcm").field("alg", &self.alg).finish()
    }
}

impl EspAead for AwsLcGcm {
    #[inline]
    fn alg(&self) -> AeadAlg {
        self.alg
    }

    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
        icv: &mut [u8; ICV_LEN],
    ) -> Result<(), CipherError> {
        // The scatter form has aws-lc write the tag straight into `icv`
        // (`EVP_AEAD_CTX_seal_scatter` with no extra plaintext), where
        // `seal_in_place_separate_tag` zeroes a `Tag` on the stack, returns
        // it, and leaves us to copy it (a store-forwarding stall on the
        // reload, and a call to `Tag::as_ref`). Same ciphertext, same ICV.
        self.key
            .seal_in_place_scatter(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                data,
                &[],
                icv,
            )
            .map_err(|_| CipherError::Failed)
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
        icv: &[u8; ICV_LEN],
    ) -> Result<(), CipherError> {
        self.key
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                icv,
                data,
            )
            .map(|_| ())
            .map_err(|_| CipherError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // NIST GCM test vector (McGrew & Viega "The Galois/Counter Mode of
    // Operation", test case 4: AES-128, 60-byte plaintext, 20-byte AAD).
    const KEY: &str = "feffe9928665731c6d6a8f9467308308";
    const IV: &str = "cafebabefacedbaddecaf888";
    const PT: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const CT: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091";
    const TAG: &str = "5bc94fbc3221a5db94fae95ae7121a47";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn known_answer_seal_open() {
        let c = AwsLcGcm::new(AeadAlg::Aes128Gcm, &unhex(KEY)).unwrap();
        let nonce: [u8; 12] = unhex(IV).try_into().unwrap();
        let mut data = unhex(PT);
        let mut icv = [0u8; 16];
        c.seal_in_place(&nonce, &unhex(AAD), &mut data, &mut icv)
            .unwrap();
        assert_eq!(data, unhex(CT));
        assert_eq!(icv.to_vec(), unhex(TAG));
        c.open_in_place(&nonce, &unhex(AAD), &mut data, &icv)
            .unwrap();
        assert_eq!(data, unhex(PT));
        // A flipped tag bit fails.
        let mut ct = unhex(CT);
        icv[15] ^= 1;
        assert_eq!(
            c.open_in_place(&nonce, &unhex(AAD), &mut ct, &icv),
            Err(CipherError::Failed)
        );
    }

    #[test]
    fn bad_key_len() {
        assert!(matches!(
            AwsLcGcm::new(AeadAlg::Aes256Gcm, &[0u8; 16]),
            Err(CipherError::BadKey { got: 16, .. })
        ));
        assert!(AwsLcGcm::new(AeadAlg::Aes256Gcm, &[0u8; 32]).is_ok());
    }
}
