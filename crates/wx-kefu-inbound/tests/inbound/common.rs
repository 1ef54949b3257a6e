//! What WeChat does, written again from its documentation with the primitives directly
//! (sha1, aes, cbc, base64) and none of the crate's own code: the tests check the crate
//! against this, so a mistake shared by both sides cannot hide.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};

pub const TOKEN: &str = "TOKEN";
pub const APPID: &str = "wx0123456789abcdef";
pub const ACCOUNT: &str = "gh_0123456789ab";
/// A real-looking EncodingAESKey whose last character carries stray low bits ('G').
pub const EAK: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// base64_decode(EAK + "="), computed with Python's base64 module.
pub const KEY_HEX: &str = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051";
/// Another key, for rotation.
pub const EAK_OLD: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32-byte key of an EncodingAESKey: base64 with the stray bits of the last character
/// dropped by hand (the 43 characters carry 258 bits; the key is the first 256).
pub fn key_of(eak: &str) -> [u8; 32] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: Vec<u8> = Vec::new();
    for c in eak.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u8;
        for i in (0..6).rev() {
            bits.push((v >> i) & 1);
        }
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        for bit in &bits[i * 8..i * 8 + 8] {
            *byte = (*byte << 1) | bit;
        }
    }
    key
}

/// sha1(sort(parts)) as lowercase hex.
pub fn sha1_sorted(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort();
    hex(&Sha1::digest(sorted.concat().as_bytes()))
}

/// WeChat's sealing: AES-256-CBC, IV = key[..16], PKCS#7 to 32 bytes, of
/// random(16) + len(4, BE) + xml + appid, in base64.
pub fn seal(key: &[u8; 32], random: [u8; 16], xml: &str, appid: &str) -> String {
    let mut plain = random.to_vec();
    plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    seal_bytes(key, plain)
}

/// Pads any plaintext to 32-byte blocks and encrypts it, in base64.
pub fn seal_bytes(key: &[u8; 32], mut plain: Vec<u8>) -> String {
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let (blocks, rest) = Array::slice_as_chunks_mut(&mut plain);
    assert!(rest.is_empty());
    cbc::Encryptor::<Aes256>::new(&(*key).into(), &key_iv(key).into()).encrypt_blocks(blocks);
    STANDARD.encode(&plain)
}

fn key_iv(key: &[u8; 32]) -> [u8; 16] {
    key[..16].try_into().unwrap()
}

/// The inverse of [`seal`]: (random, xml, appid).
pub fn unseal(key: &[u8; 32], ciphertext: &str) -> ([u8; 16], String, String) {
    let mut data = STANDARD.decode(ciphertext).unwrap();
    assert_eq!(data.len() % 32, 0, "not padded to 32-byte blocks");
    let (blocks, _) = Array::slice_as_chunks_mut(&mut data);
    cbc::Decryptor::<Aes256>::new(&(*key).into(), &key_iv(key).into()).decrypt_blocks(blocks);
    let pad = *data.last().unwrap() as usize;
    assert!((1..=32).contains(&pad), "padding {pad}");
    assert!(data[data.len() - pad..].iter().all(|&b| b as usize == pad));
    data.truncate(data.len() - pad);
    let random: [u8; 16] = data[..16].try_into().unwrap();
    let len = u32::from_be_bytes(data[16..20].try_into().unwrap()) as usize;
    let xml = String::from_utf8(data[20..20 + len].to_vec()).unwrap();
    let appid = String::from_utf8(data[20 + len..].to_vec()).unwrap();
    (random, xml, appid)
}

/// A text message as WeChat pushes it.
pub fn text_push(openid: &str, content: &str, msg_id: i64, create_time: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

/// An event as WeChat pushes it, with extra fields.
pub fn event_push(openid: &str, event: &str, create_time: i64, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )
}

/// The query of a plain push.
pub fn plain_query(timestamp: i64, nonce: &str) -> String {
    let ts = timestamp.to_string();
    format!(
        "signature={}&timestamp={ts}&nonce={nonce}&openid=oUSER",
        sha1_sorted(&[TOKEN, &ts, nonce])
    )
}

/// A safe-mode push: (query, body).
pub fn safe_push(
    key: &[u8; 32],
    appid: &str,
    xml: &str,
    timestamp: i64,
    nonce: &str,
) -> (String, String) {
    let encrypted = seal(key, *b"0123456789abcdef", xml, appid);
    let ts = timestamp.to_string();
    let query = format!(
        "signature={}&timestamp={ts}&nonce={nonce}&openid=oUSER&encrypt_type=aes&msg_signature={}",
        sha1_sorted(&[TOKEN, &ts, nonce]),
        sha1_sorted(&[TOKEN, &ts, nonce, &encrypted])
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    (query, body)
}

/// The text of `<name>…</name>` in a flat XML answer, CDATA unwrapped (tests only).
pub fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    let inner = &xml[start..end];
    Some(
        inner
            .strip_prefix("<![CDATA[")
            .and_then(|s| s.strip_suffix("]]>"))
            .unwrap_or(inner)
            .to_owned(),
    )
}
