//! Safe mode's message encryption: AES-256-CBC with the key from the EncodingAESKey, the IV
//! its first 16 bytes, PKCS#7 padding to 32-byte blocks, and the plaintext
//! `random(16) + length(4, big-endian) + xml + appid`, all in base64.
//!
//! The primitives are RustCrypto's (`aes`, `cbc`); this module only lays the bytes out.
//! Decryption runs only after the `msg_signature` was checked, so padding errors are no
//! oracle to an attacker.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};

use crate::error::{Error, Result};

/// WeChat pads to multiples of 32 bytes, not of the AES block.
const PAD_BLOCK: usize = 32;

/// Decodes the EncodingAESKey. WeChat's keys are 43 random characters, so the last one
/// usually carries 2 stray low bits: they are allowed (a strict decoder refuses most real keys).
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// An AES-256 key from an EncodingAESKey. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey {
    key: [u8; 32],
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(***)")
    }
}

/// A decrypted message: the XML and the appid it was sealed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The inner XML.
    pub xml: String,
    /// The appid at the end of the plaintext.
    pub app_id: String,
}

impl AesKey {
    /// The key of an EncodingAESKey: 43 base64 characters, `key = base64_decode(it + "=")`.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<AesKey> {
        let text = encoding_aes_key.trim();
        if text.len() != 43
            || !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(Error::BadAesKey);
        }
        let bytes = KEY_ENGINE
            .decode(format!("{text}="))
            .map_err(|_| Error::BadAesKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| Error::BadAesKey)?;
        Ok(AesKey { key })
    }

    /// A key from its 32 raw bytes.
    pub fn from_bytes(key: [u8; 32]) -> AesKey {
        AesKey { key }
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Seals `xml` for `app_id` with fresh randomness from the operating system.
    pub fn encrypt(&self, xml: &str, app_id: &str) -> Result<String> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| Error::Random(e.to_string()))?;
        Ok(self.encrypt_with(random, xml, app_id))
    }

    /// Seals `xml` for `app_id` with the given 16 leading bytes: deterministic, for test
    /// vectors and emulators. Replies to WeChat use [`AesKey::encrypt`].
    pub fn encrypt_with(&self, random: [u8; 16], xml: &str, app_id: &str) -> String {
        let mut plain = Vec::with_capacity(20 + xml.len() + app_id.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        // A body over 4 GiB cannot reach here (the size cap); saturate rather than wrap.
        let length = u32::try_from(xml.len()).unwrap_or(u32::MAX);
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(xml.as_bytes());
        plain.extend_from_slice(app_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        // `pad` is 1..=32, so it fits a byte.
        plain.resize(plain.len() + pad, u8::try_from(pad).unwrap_or(0));
        // A multiple of 32 bytes, so whole AES blocks with nothing left over.
        let (blocks, _) = Array::slice_as_chunks_mut(&mut plain);
        cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into()).encrypt_blocks(blocks);
        STANDARD.encode(&plain)
    }

    /// Opens a base64 ciphertext: decrypts, checks the padding and the layout, and splits
    /// the XML from the appid (which the caller compares with its own).
    pub fn decrypt(&self, ciphertext: &str) -> Result<Opened> {
        let decrypted = self.decrypt_in_place(ciphertext)?;
        let app_id = decrypted.app_id()?.to_owned();
        Ok(Opened {
            xml: decrypted.into_xml()?,
            app_id,
        })
    }

    /// Decrypts into the plaintext itself, with where the XML and the appid lie in it:
    /// what the webhook opens, without copying the XML out.
    pub(crate) fn decrypt_in_place(&self, ciphertext: &str) -> Result<Decrypted> {
        let mut data = STANDARD
            .decode(ciphertext.trim())
            .map_err(|_| Error::BadBase64)?;
        if data.is_empty() || data.len() % PAD_BLOCK != 0 {
            return Err(Error::Decrypt);
        }
        // A multiple of 32 bytes (checked above), so whole AES blocks.
        let (blocks, _) = Array::slice_as_chunks_mut(&mut data);
        cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into()).decrypt_blocks(blocks);
        let plain = unpad(&data)?.len();
        if plain < 20 {
            return Err(Error::Malformed("shorter than random(16) + length(4)"));
        }
        let mut length = [0u8; 4];
        length.copy_from_slice(&data[16..20]);
        let length = usize::try_from(u32::from_be_bytes(length))
            .map_err(|_| Error::Malformed("the length does not fit"))?;
        if length > plain - 20 {
            return Err(Error::Malformed("the length runs past the end"));
        }
        Ok(Decrypted {
            xml: 20..20 + length,
            app_id: 20 + length..plain,
            data,
        })
    }
}

/// A decrypted message: the plaintext and where the XML and the appid lie in it.
pub(crate) struct Decrypted {
    data: Vec<u8>,
    xml: std::ops::Range<usize>,
    app_id: std::ops::Range<usize>,
}

impl Decrypted {
    /// The appid the message was sealed for.
    pub(crate) fn app_id(&self) -> Result<&str> {
        std::str::from_utf8(&self.data[self.app_id.clone()])
            .map_err(|_| Error::Malformed("the appid is not UTF-8"))
    }

    /// The XML, moved out of the plaintext (no copy to a new buffer).
    pub(crate) fn into_xml(self) -> Result<String> {
        let (text, start) = self.into_text()?;
        let mut text = text;
        text.drain(..start);
        Ok(text)
    }

    /// The plaintext as text and where the XML starts in it: the random prefix and the
    /// length (the 20 bytes before the XML) blanked with spaces, the appid cut off, so the
    /// XML needs neither a copy nor a move.
    pub(crate) fn into_text(self) -> Result<(String, usize)> {
        let Decrypted { mut data, xml, .. } = self;
        data.truncate(xml.end);
        if let Some(prefix) = data.get_mut(..xml.start) {
            prefix.fill(b' ');
        }
        let text = String::from_utf8(data).map_err(|_| Error::Malformed("the XML is not UTF-8"))?;
        Ok((text, xml.start))
    }
}

/// Removes PKCS#7 padding of 1 to 32 bytes, checking every padding byte.
fn unpad(data: &[u8]) -> Result<&[u8]> {
    let Some(&last) = data.last() else {
        return Err(Error::Decrypt);
    };
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > data.len() {
        return Err(Error::Decrypt);
    }
    let (body, padding) = data.split_at(data.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(Error::Decrypt);
    }
    Ok(body)
}
