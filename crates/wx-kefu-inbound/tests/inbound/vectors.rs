//! Fixed vectors computed outside Rust (Python 3: hashlib, base64, `cryptography`), and
//! the crate's output checked with the primitives used directly.

use wx_kefu_inbound::crypto::AesKey;
use wx_kefu_inbound::{Answer, Query, Reply, signature};

use crate::common::*;
use crate::{NOW, safe_webhook};

/// sha1("1700000000" + "12345" + "TOKEN"), sorted: Python's hashlib.
const SIGNATURE: &str = "0b40b341054765aebb3db4ea9305f7085c7512f1";
/// The text push below, sealed by Python's `cryptography` with random = b"0123456789abcdef".
const CIPHERTEXT: &str = "Q3stYC6hdFzMh9T8HCvyDPYd4batj7zR9qX1tTJwVo3rIGsIyiksc+v3Gxca8gMqrf6CKjLspeib04rpk/Tk+n5SKeiuOgf9/3MzfMLXNvb8/4JtPLwVYsqmSXitdQrWkNGmn2BFMcLCD3MIBgT4h4nzvbmxKzbr9Y3WzQ5IQbHKcH3qEPja4gzcsaAWqJagUirzwq86JvTB313MWatoQPgmmVLG6d95VsX9fx7Eki/5R9jqdRlzGeuxZPKo4W6ya9gziTwvUOJQDivPLcvmZSF7gI4ThnTRpfaXMng70tZA0xgQlV5nWIL/DCmQu3Rr3YMCL7g5t3Q6nEpqQr8zvNfNrGiArNHUN4plf1On83B2sZm1mM76/cJcA95vmYDFTQH5H5h+2w+1h2eMbCN9Y0o4P634GA58AsT3cP6N29A=";
/// sha1 of the sorted TOKEN, 1700000000, 12345 and CIPHERTEXT: Python's hashlib.
const MSG_SIGNATURE: &str = "02a3dfb0e4e2a1c6f0b339e90d83864d5c3d7305";
const PLAIN: &str = "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[转人工]]></Content><MsgId>6054768590064713728</MsgId></xml>";

#[test]
fn signatures_match_pythons_hashlib() {
    assert_eq!(
        signature::sign(&["TOKEN", "1700000000", "12345"]),
        SIGNATURE
    );
    assert_eq!(
        signature::sign(&["12345", "TOKEN", "1700000000"]),
        SIGNATURE
    );
    assert_eq!(
        signature::sign(&["TOKEN", "1700000000", "12345", CIPHERTEXT]),
        MSG_SIGNATURE
    );
    assert!(signature::verify(
        SIGNATURE,
        &["TOKEN", "1700000000", "12345"]
    ));
    assert!(signature::verify(
        &SIGNATURE.to_uppercase(),
        &["TOKEN", "1700000000", "12345"]
    ));
    let mut tampered = SIGNATURE.to_owned();
    tampered.replace_range(39.., "0");
    assert!(!signature::verify(
        &tampered,
        &["TOKEN", "1700000000", "12345"]
    ));
    assert!(!signature::verify("", &["TOKEN", "1700000000", "12345"]));
    assert!(!signature::verify(
        &"z".repeat(40),
        &["TOKEN", "1700000000", "12345"]
    ));
    assert!(!signature::verify(
        "0b40",
        &["TOKEN", "1700000000", "12345"]
    ));
}

#[test]
fn signatures_match_the_sha1_crate_used_directly() {
    let cases: [&[&str]; 4] = [
        &["a", "b", "c"],
        &["TOKEN", "1409304348", "xxxxxx", "ENCRYPTED"],
        &["中文", "ts", "ñ", ""],
        &["same", "same", "same"],
    ];
    for parts in cases {
        assert_eq!(signature::sign(parts), sha1_sorted(parts), "{parts:?}");
        assert!(signature::verify(&sha1_sorted(parts), parts));
    }
}

#[test]
fn the_key_of_an_encoding_aes_key_with_stray_bits() {
    // Python's lenient base64 and the bit-by-bit decoding in `common` agree.
    assert_eq!(hex(&key_of(EAK)), KEY_HEX);
    // A strict base64 decoder refuses this key; the crate must not.
    let key = AesKey::from_encoding_aes_key(EAK).unwrap();
    let sealed = key.encrypt("<xml/>", APPID).unwrap();
    let (_, xml, appid) = unseal(&key_of(EAK), &sealed);
    assert_eq!((xml.as_str(), appid.as_str()), ("<xml/>", APPID));
}

#[test]
fn sealing_matches_pythons_cryptography() {
    let key = AesKey::from_encoding_aes_key(EAK).unwrap();
    assert_eq!(
        key.encrypt_with(*b"0123456789abcdef", PLAIN, APPID),
        CIPHERTEXT
    );
    assert_eq!(
        seal(&key_of(EAK), *b"0123456789abcdef", PLAIN, APPID),
        CIPHERTEXT
    );
    let opened = key.decrypt(CIPHERTEXT).unwrap();
    assert_eq!(opened.xml, PLAIN);
    assert_eq!(opened.app_id, APPID);
}

#[test]
fn every_padding_length_round_trips() {
    // 20 + xml + appid(18) = 38 + n: every remainder mod 32, so pads of 1 to 32.
    let key = AesKey::from_encoding_aes_key(EAK).unwrap();
    for n in 0..40 {
        let xml = "x".repeat(n);
        let sealed = seal(&key_of(EAK), [7; 16], &xml, APPID);
        assert_eq!(key.decrypt(&sealed).unwrap().xml, xml);
        let ours = key.encrypt(&xml, APPID).unwrap();
        assert_eq!(unseal(&key_of(EAK), &ours).1, xml);
    }
}

/// The Python vector through the whole webhook, and the reply opened by hand.
#[test]
fn a_safe_mode_push_and_its_sealed_reply() {
    let webhook = safe_webhook();
    let query = format!(
        "signature={SIGNATURE}&timestamp=1700000000&nonce=12345&openid=oUSER&encrypt_type=aes&msg_signature={MSG_SIGNATURE}"
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{CIPHERTEXT}]]></Encrypt></xml>"
    );
    let mut seen = None;
    let answer = webhook
        .handle(&Query::parse(&query), body.as_bytes(), |push| {
            seen = Some(push.clone());
            Reply::transfer_to("test1@gh_test")
        })
        .unwrap();
    let push = seen.unwrap();
    assert_eq!(push.from_user_name, "oUSER");
    assert_eq!(push.to_user_name, ACCOUNT);
    let Some(wx_kefu_inbound::UserMessage::Text(text)) = push.message() else {
        panic!("{push:?}");
    };
    assert_eq!(text.content, "转人工");
    assert_eq!(
        push.dedup_key(),
        wx_kefu_inbound::DedupKey::Message(6054768590064713728)
    );

    let (random, xml) = open_answer(&answer);
    assert_eq!(element(&xml, "ToUserName").as_deref(), Some("oUSER"));
    assert_eq!(element(&xml, "FromUserName").as_deref(), Some(ACCOUNT));
    assert_eq!(element(&xml, "CreateTime").as_deref(), Some("1700000000"));
    assert_eq!(
        element(&xml, "MsgType").as_deref(),
        Some("transfer_customer_service")
    );
    assert_eq!(element(&xml, "KfAccount").as_deref(), Some("test1@gh_test"));
    assert!(xml.contains("<TransInfo><KfAccount>"), "{xml}");

    // A second reply (to another message) starts with other random bytes.
    let (query2, body2) = safe_push(
        &key_of(EAK),
        APPID,
        &text_push("oUSER", "again", 2, NOW),
        NOW,
        "777",
    );
    let answer2 = webhook
        .handle(&Query::parse(&query2), body2.as_bytes(), |_| {
            Reply::text("收到")
        })
        .unwrap();
    let (random2, xml2) = open_answer(&answer2);
    assert_ne!(random, random2, "the leading 16 bytes must be fresh");
    assert_eq!(element(&xml2, "Content").as_deref(), Some("收到"));
}

/// Checks the answer's signature by hand and opens it: (random, xml).
pub fn open_answer(answer: &Answer) -> ([u8; 16], String) {
    assert!(
        answer.content_type.starts_with("application/xml"),
        "{answer:?}"
    );
    let body = &answer.body;
    let encrypted = element(body, "Encrypt").unwrap();
    let timestamp = element(body, "TimeStamp").unwrap();
    let nonce = element(body, "Nonce").unwrap();
    let given = element(body, "MsgSignature").unwrap();
    assert_eq!(given, sha1_sorted(&[TOKEN, &timestamp, &nonce, &encrypted]));
    let (random, xml, appid) = unseal(&key_of(EAK), &encrypted);
    assert_eq!(appid, APPID);
    (random, xml)
}
