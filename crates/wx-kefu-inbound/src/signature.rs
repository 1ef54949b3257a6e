//! WeChat's signatures: SHA-1 over the sorted, concatenated parts, as 40 lowercase hex
//! digits — `signature` over (token, timestamp, nonce) in plain mode and for the URL check,
//! `msg_signature` over (token, timestamp, nonce, Encrypt) in safe mode.
//!
//! Comparison is in constant time (`subtle`), so the time a check takes tells an attacker
//! nothing about how much of a forged signature was right.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The 20-byte SHA-1 of the parts, sorted (bytewise) and concatenated.
fn digest(parts: &[&str]) -> [u8; 20] {
    // WeChat signs 3 or 4 parts: sort them on the stack.
    let mut sorted = [""; 4];
    let sorted: &mut [&str] = match parts.len() {
        n @ 0..=4 => {
            sorted[..n].copy_from_slice(parts);
            &mut sorted[..n]
        }
        _ => return digest_many(parts),
    };
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted.iter() {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// [`digest`] of more parts than WeChat signs.
fn digest_many(parts: &[&str]) -> [u8; 20] {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// The signature of the parts: 40 lowercase hex digits.
///
/// ```
/// // WeChat's URL check: sha1(sort(token, timestamp, nonce)).
/// let signature = wx_kefu_inbound::signature::sign(&["token", "1714000000", "nonce"]);
/// assert_eq!(signature.len(), 40);
/// ```
pub fn sign(parts: &[&str]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(40);
    for byte in digest(parts) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Whether `given` (hex, either case) is the signature of the parts; in constant time for
/// a well-formed `given` (its length and hex-ness are not secret).
pub fn verify(given: &str, parts: &[&str]) -> bool {
    let Some(given) = decode_hex(given) else {
        return false;
    };
    digest(parts).ct_eq(&given).into()
}

/// 40 hex digits as 20 bytes.
fn decode_hex(text: &str) -> Option<[u8; 20]> {
    let bytes = text.as_bytes();
    if bytes.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [high, low] = pair else {
            return None;
        };
        *slot = (hex_value(*high)? << 4) | hex_value(*low)?;
    }
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
