//! The inbound hot path: `Webhook::handle` against a floor, a minimal hand-written pipeline
//! doing the same work with the same crates: the query read, the size cap and the replay
//! window, SHA-1 and a constant-time compare, quick-xml with the same refusals (no DTD, no
//! processing instruction, no unknown entity, the `xml` root, no repeated field, bounded
//! depth and count), base64 and AES-256-CBC with the 32-byte PKCS#7, the appid check, the
//! push read into a small struct of owned strings (what an application is handed, as the
//! SDK hands a `Push`), a bounded dedup of what was seen, and the reply sealed with fresh
//! randomness.
//!
//! Two workloads, each over pushes sealed in safe mode beforehand (distinct, so the dedup
//! sees each once, as WeChat's first deliveries): a user's text answered with
//! `transfer_customer_service` (sealed), and a `kf_create_session` event answered with
//! `success`. CPU time per push over interleaved runs of both sides, and, with
//! `--instructions`, the instructions per push counted by callgrind inside the measured
//! function only (`--toggle-collect`), without the fixtures' cost.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use quick_xml::events::Event as XmlEvent;
use serde::Serialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use wx_kefu_api::inbound::{Query, Reply, Webhook};

use crate::measure::{Summary, cpu_time};

const TOKEN: &str = "bench-token";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxbench0123456789";
const ORIGINAL_ID: &str = "gh_0123456789ab";
const NOW: i64 = 1_764_547_200;
const MAX_BODY: usize = 64 * 1024;
const WINDOW: i64 = 300;
const DEDUP_CAPACITY: usize = 4096;
const PAD_BLOCK: usize = 32;

/// What is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A user's text, answered with a sealed `transfer_customer_service`.
    Text,
    /// A `kf_create_session` event, answered with `success`.
    Event,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Text => "text push → sealed transfer_customer_service",
            Workload::Event => "kf_create_session event → success",
        }
    }

    /// The name on the command line of `inbound-count`.
    pub fn arg(self) -> &'static str {
        match self {
            Workload::Text => "text",
            Workload::Event => "event",
        }
    }

    fn parse(arg: &str) -> Option<Workload> {
        [Workload::Text, Workload::Event]
            .into_iter()
            .find(|w| w.arg() == arg)
    }
}

/// One push as it arrives: the raw query string and the body.
struct Delivery {
    query: String,
    body: Vec<u8>,
}

fn key() -> [u8; 32] {
    let mut key = [0u8; 32];
    let decoded = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
    .decode(format!("{ENCODING_AES_KEY}="))
    .unwrap_or_default();
    key.copy_from_slice(&decoded[..32]);
    key
}

fn sha1_hex(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    let digest: [u8; 20] = hasher.finalize().into();
    let mut hex = String::with_capacity(40);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 15)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `n` distinct pushes of the workload, sealed as WeChat seals them.
fn deliveries(workload: Workload, n: usize) -> Vec<Delivery> {
    let key = key();
    (0..n)
        .map(|i| {
            let xml = match workload {
                Workload::Text => format!(
                    "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[o_user_{i}]]></FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我想问一下订单 {i} 的情况]]></Content><MsgId>{}</MsgId></xml>",
                    24_000_000_000_000_000_i64 + i as i64
                ),
                Workload::Event => format!(
                    "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[o_user_{i}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_create_session]]></Event><KfAccount><![CDATA[alice@gh_bench]]></KfAccount></xml>",
                    NOW - (i as i64 % 200)
                ),
            };
            let encrypted = seal(&key, &[7u8; 16], &xml);
            let timestamp = NOW.to_string();
            let nonce = format!("{}", 1_000_000 + i);
            let msg_signature = sha1_hex(&[TOKEN, &timestamp, &nonce, &encrypted]);
            let signature = sha1_hex(&[TOKEN, &timestamp, &nonce]);
            Delivery {
                query: format!(
                    "signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o_user_{i}&encrypt_type=aes&msg_signature={msg_signature}"
                ),
                body: format!(
                    "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
                )
                .into_bytes(),
            }
        })
        .collect()
}

/// `random(16) + length(4) + xml + appid`, PKCS#7 to 32 bytes, AES-256-CBC, base64.
fn seal(key: &[u8; 32], random: &[u8; 16], xml: &str) -> String {
    let mut plain = Vec::with_capacity(20 + xml.len() + APP_ID.len() + PAD_BLOCK);
    plain.extend_from_slice(random);
    plain.extend_from_slice(&u32::try_from(xml.len()).unwrap_or(u32::MAX).to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(APP_ID.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.resize(plain.len() + pad, u8::try_from(pad).unwrap_or(0));
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let (blocks, _) = Array::slice_as_chunks_mut(&mut plain);
    cbc::Encryptor::<Aes256>::new(key.into(), &iv.into()).encrypt_blocks(blocks);
    STANDARD.encode(&plain)
}

// ---- the floor ----

/// Why the floor refused a push (it refuses what the SDK refuses; the reasons are not
/// reported in detail).
#[derive(Debug)]
pub struct Refused(
    #[expect(
        dead_code,
        reason = "shown by Debug when the bench panics on a refusal"
    )]
    &'static str,
);

/// The floor's state: the key and a bounded set of what was seen.
pub struct Floor {
    key: [u8; 32],
    seen: HashSet<u64>,
    order: VecDeque<u64>,
}

/// The fields of a push the floor reads (borrowed from the decrypted XML).
#[derive(Default)]
struct PushFields<'a> {
    to: Option<&'a str>,
    from: Option<&'a str>,
    create_time: Option<i64>,
    msg_type: Option<&'a str>,
    event: Option<&'a str>,
    content: Option<&'a str>,
    kf_account: Option<&'a str>,
    msg_id: Option<i64>,
}

/// The push the floor hands the application: a small struct it can keep, as the SDK
/// hands a `Push` (the bench's application reads only its kind).
#[derive(Debug)]
#[expect(
    dead_code,
    reason = "the application's to read; the bench's reads only the kind"
)]
struct FloorPush {
    to: String,
    from: String,
    create_time: i64,
    msg_type: String,
    event: Option<String>,
    content: Option<String>,
    kf_account: Option<String>,
    msg_id: Option<i64>,
}

/// The query parameters the floor reads, borrowed from the raw query in one pass
/// (WeChat's values hold no escapes; one that does is refused rather than decoded).
#[derive(Default)]
struct QueryFields<'a> {
    timestamp: Option<&'a str>,
    nonce: Option<&'a str>,
    encrypt_type: Option<&'a str>,
    msg_signature: Option<&'a str>,
}

fn query_fields(raw: &str) -> Result<QueryFields<'_>, Refused> {
    let mut fields = QueryFields::default();
    let bytes = raw.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'&', &bytes[start..]).map_or(bytes.len(), |at| start + at);
        let pair = &raw[start..end];
        start = end + 1;
        let Some(eq) = memchr::memchr(b'=', pair.as_bytes()) else {
            continue;
        };
        let (key, value) = (&pair[..eq], &pair[eq + 1..]);
        let slot = match key {
            "timestamp" => &mut fields.timestamp,
            "nonce" => &mut fields.nonce,
            "encrypt_type" => &mut fields.encrypt_type,
            "msg_signature" => &mut fields.msg_signature,
            _ => continue,
        };
        if memchr::memchr2(b'%', b'+', value.as_bytes()).is_some() {
            return Err(Refused("escaped query value"));
        }
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    Ok(fields)
}

fn hex_digest(given: &str) -> Option<[u8; 20]> {
    let bytes = given.as_bytes();
    if bytes.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        };
        *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

fn digest(parts: &mut [&str]) -> [u8; 20] {
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts.iter() {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// Reads a flat `<xml>` document with the SDK's refusals, handing each second-level
/// element's text to `field`, borrowed from `text` (quick-xml splits text at entity
/// references, which are checked and, for the fields the floor reads, never present).
fn read_xml<'a>(
    text: &'a str,
    mut field: impl FnMut(&'a [u8], &'a str) -> Result<(), Refused>,
) -> Result<(), Refused> {
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = true;
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut seen: Vec<&'a [u8]> = Vec::with_capacity(8);
    let mut current: Option<&'a [u8]> = None;
    let mut done = false;
    let borrowed = |content: std::borrow::Cow<'a, str>| match content {
        std::borrow::Cow::Borrowed(content) => Ok(content),
        std::borrow::Cow::Owned(_) => Err(Refused("xml")),
    };
    // A tag's text, re-borrowed from the document (the reader reads a &str in place).
    let within = |part: &str| -> Result<&'a str, Refused> {
        let offset = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        text.get(offset..offset + part.len()).ok_or(Refused("xml"))
    };
    loop {
        match reader.read_event().map_err(|_| Refused("xml"))? {
            XmlEvent::DocType(_) => return Err(Refused("doctype")),
            XmlEvent::PI(_) => return Err(Refused("processing instruction")),
            XmlEvent::Decl(_) | XmlEvent::Comment(_) => {}
            XmlEvent::Start(start) => {
                if done {
                    return Err(Refused("content after the root"));
                }
                elements += 1;
                depth += 1;
                if elements > 512 || depth > 8 {
                    return Err(Refused("too large"));
                }
                let raw = within(&start)?;
                let name = raw
                    .split(|c: char| c.is_ascii_whitespace())
                    .next()
                    .unwrap_or(raw)
                    .as_bytes();
                match depth {
                    1 if name != b"xml" => return Err(Refused("not <xml>")),
                    1 => {}
                    2 => {
                        if seen.contains(&name) {
                            return Err(Refused("repeated field"));
                        }
                        seen.push(name);
                        current = Some(name);
                    }
                    _ => current = None,
                }
            }
            XmlEvent::End(_) => {
                depth -= 1;
                if depth == 0 {
                    done = true;
                }
                current = None;
            }
            XmlEvent::CData(cdata) => {
                let value = borrowed(cdata.into_inner())?;
                if let Some(name) = current {
                    field(name, value)?;
                }
            }
            XmlEvent::Text(t) => {
                let value = borrowed(t.into_inner())?;
                if let Some(name) = current.filter(|_| !value.trim().is_empty()) {
                    field(name, value)?;
                }
            }
            XmlEvent::GeneralRef(reference) => {
                let known = reference.is_char_ref()
                    || quick_xml::escape::resolve_xml_entity(&reference).is_some();
                if !known {
                    return Err(Refused("entity"));
                }
            }
            XmlEvent::Empty(_) => return Err(Refused("empty element")),
            XmlEvent::Eof => break,
        }
    }
    if !done {
        return Err(Refused("unfinished"));
    }
    Ok(())
}

impl Floor {
    pub fn new() -> Floor {
        Floor {
            key: key(),
            seen: HashSet::with_capacity(DEDUP_CAPACITY),
            order: VecDeque::with_capacity(DEDUP_CAPACITY),
        }
    }

    /// Handles one push: the answer's body.
    pub fn handle(&mut self, query: &str, body: &[u8]) -> Result<String, Refused> {
        if body.len() > MAX_BODY {
            return Err(Refused("too large"));
        }
        let params = query_fields(query)?;
        let timestamp = params.timestamp.ok_or(Refused("timestamp"))?;
        let nonce = params.nonce.ok_or(Refused("nonce"))?;
        let at: i64 = timestamp.trim().parse().map_err(|_| Refused("timestamp"))?;
        if NOW.abs_diff(at) > WINDOW as u64 {
            return Err(Refused("replayed"));
        }
        if !params
            .encrypt_type
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
        {
            return Err(Refused("not encrypted"));
        }
        let text = std::str::from_utf8(body).map_err(|_| Refused("utf8"))?;
        let mut encrypt = None;
        read_xml(text, |name, value| {
            if name == b"Encrypt" {
                encrypt = Some(value);
            }
            Ok(())
        })?;
        let encrypt = encrypt.ok_or(Refused("no Encrypt"))?;
        let given = params.msg_signature.ok_or(Refused("msg_signature"))?;
        let given = hex_digest(given).ok_or(Refused("signature"))?;
        let expected = digest(&mut [TOKEN, timestamp, nonce, encrypt]);
        if !bool::from(expected.ct_eq(&given)) {
            return Err(Refused("signature"));
        }
        // Open it.
        let mut data = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| Refused("base64"))?;
        if data.is_empty() || data.len() % PAD_BLOCK != 0 {
            return Err(Refused("decrypt"));
        }
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        let (blocks, _) = Array::slice_as_chunks_mut(&mut data);
        cbc::Decryptor::<Aes256>::new(&self.key.into(), &iv.into()).decrypt_blocks(blocks);
        let pad = usize::from(*data.last().ok_or(Refused("decrypt"))?);
        if pad == 0
            || pad > PAD_BLOCK
            || data[data.len() - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(Refused("padding"));
        }
        let plain = &data[..data.len() - pad];
        if plain.len() < 20 {
            return Err(Refused("short"));
        }
        let length = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
        let rest = &plain[20..];
        if length > rest.len() {
            return Err(Refused("length"));
        }
        let (xml, app_id) = rest.split_at(length);
        if app_id != APP_ID.as_bytes() {
            return Err(Refused("appid"));
        }
        let xml = std::str::from_utf8(xml).map_err(|_| Refused("utf8"))?;
        // Read the push.
        let mut push = PushFields::default();
        read_xml(xml, |name, value| {
            match name {
                b"ToUserName" => push.to = Some(value),
                b"FromUserName" => push.from = Some(value),
                b"CreateTime" => {
                    push.create_time =
                        Some(value.trim().parse().map_err(|_| Refused("CreateTime"))?)
                }
                b"MsgType" => push.msg_type = Some(value),
                b"Event" => push.event = Some(value),
                b"Content" => push.content = Some(value),
                b"KfAccount" => push.kf_account = Some(value),
                b"MsgId" => push.msg_id = Some(value.trim().parse().map_err(|_| Refused("MsgId"))?),
                _ => {}
            }
            Ok(())
        })?;
        let push = match push {
            PushFields {
                to: Some(to),
                from: Some(from),
                create_time: Some(create_time),
                msg_type: Some(msg_type),
                event,
                content,
                kf_account,
                msg_id,
            } => FloorPush {
                to: to.to_owned(),
                from: from.to_owned(),
                create_time,
                msg_type: msg_type.to_owned(),
                event: event.map(str::to_owned),
                content: content.map(str::to_owned),
                kf_account: kf_account.map(str::to_owned),
                msg_id,
            },
            _ => return Err(Refused("missing field")),
        };
        let push = std::hint::black_box(push);
        let (to, from, create_time, msg_type) = (
            push.to.as_str(),
            push.from.as_str(),
            push.create_time,
            push.msg_type.as_str(),
        );
        let is_event = msg_type.eq_ignore_ascii_case("event");
        // Seen before? (msgid, or sender + time + kind for events)
        let dedup = match (is_event, push.msg_id) {
            (false, Some(id)) => id as u64,
            _ => {
                use std::hash::{BuildHasher, Hasher};
                let mut hasher = self.seen.hasher().build_hasher();
                hasher.write(from.as_bytes());
                hasher.write_i64(create_time);
                hasher.write(push.event.as_deref().unwrap_or(msg_type).as_bytes());
                hasher.finish()
            }
        };
        if !self.seen.insert(dedup) {
            return Ok("success".to_owned());
        }
        self.order.push_back(dedup);
        if self.order.len() > DEDUP_CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        if is_event {
            return Ok("success".to_owned());
        }
        // The reply, sealed: one call for the randomness of the block and the nonce.
        let mut random = [0u8; 20];
        getrandom::fill(&mut random).map_err(|_| Refused("random"))?;
        let mut xml = String::with_capacity(256);
        xml.push_str("<xml><ToUserName><![CDATA[");
        xml.push_str(from);
        xml.push_str("]]></ToUserName><FromUserName><![CDATA[");
        xml.push_str(to);
        xml.push_str("]]></FromUserName><CreateTime>");
        xml.push_str(&NOW.to_string());
        xml.push_str("</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>");
        let mut block = [0u8; 16];
        block.copy_from_slice(&random[..16]);
        let encrypted = seal(&self.key, &block, &xml);
        let timestamp = NOW.to_string();
        let nonce =
            u32::from_be_bytes([random[16], random[17], random[18], random[19]]).to_string();
        let signature = sha1_hex(&[TOKEN, &timestamp, &nonce, &encrypted]);
        let mut answer = String::with_capacity(encrypted.len() + 200);
        answer.push_str("<xml><Encrypt><![CDATA[");
        answer.push_str(&encrypted);
        answer.push_str("]]></Encrypt><MsgSignature><![CDATA[");
        answer.push_str(&signature);
        answer.push_str("]]></MsgSignature><TimeStamp>");
        answer.push_str(&timestamp);
        answer.push_str("</TimeStamp><Nonce><![CDATA[");
        answer.push_str(&nonce);
        answer.push_str("]]></Nonce></xml>");
        Ok(answer)
    }
}

// ---- the SDK ----

fn webhook() -> Webhook {
    Webhook::builder()
        .token(TOKEN)
        .app_id(APP_ID)
        .encoding_aes_key(ENCODING_AES_KEY)
        .and_then(|builder| builder.clock(|| NOW).build())
        .unwrap_or_else(|error| panic!("the bench's webhook: {error}"))
}

fn reply_of(push: &wx_kefu_api::inbound::Push) -> Reply {
    match push.is_event() {
        true => Reply::success(),
        false => Reply::transfer_customer_service(),
    }
}

/// Which side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sdk,
    Floor,
}

/// A fresh side, with its dedup empty: made outside the measured work.
enum Handler {
    Sdk(Webhook),
    Floor(Floor),
}

fn handler(side: Side) -> Handler {
    match side {
        Side::Sdk => Handler::Sdk(webhook()),
        Side::Floor => Handler::Floor(Floor::new()),
    }
}

/// Handles every delivery on one side, as the measured work; the answers' total length
/// (so nothing is optimised away). Never inlined: callgrind collects inside it only.
#[inline(never)]
fn inbound_measured_pass(handler: &mut Handler, deliveries: &[Delivery]) -> usize {
    let mut total = 0;
    match handler {
        Handler::Sdk(webhook) => {
            for delivery in deliveries {
                let query = Query::parse(&delivery.query);
                let answer = webhook
                    .handle(&query, &delivery.body, reply_of)
                    .unwrap_or_else(|error| panic!("the SDK refused a bench push: {error}"));
                total += answer.body.len();
            }
        }
        Handler::Floor(floor) => {
            for delivery in deliveries {
                let answer = floor
                    .handle(&delivery.query, &delivery.body)
                    .unwrap_or_else(|refused| {
                        panic!("the floor refused a bench push: {refused:?}")
                    });
                total += answer.len();
            }
        }
    }
    std::hint::black_box(total)
}

/// One workload, both sides.
#[derive(Debug, Clone, Serialize)]
pub struct InboundResult {
    /// What is pushed and answered.
    pub workload: &'static str,
    /// Pushes per run and side.
    pub pushes: usize,
    /// CPU microseconds per push through `Webhook::handle` (median, least, greatest).
    pub sdk_us: Summary,
    /// CPU microseconds per push through the floor.
    pub floor_us: Summary,
    /// SDK over floor, run by run.
    pub ratio: Summary,
    /// Instructions per push (callgrind), when counted: SDK, floor, ratio.
    pub instructions: Option<(f64, f64, f64)>,
}

/// CPU time per push of both sides, `runs` interleaved runs of `pushes` pushes each.
pub fn measure(workload: Workload, pushes: usize, runs: usize) -> InboundResult {
    let deliveries = deliveries(workload, pushes);
    // Both sides answer alike (the check that the floor does the same work).
    check_same_answers(&deliveries);
    // Warm both up once.
    inbound_measured_pass(&mut handler(Side::Sdk), &deliveries);
    inbound_measured_pass(&mut handler(Side::Floor), &deliveries);
    let per_push = |spent: Duration| spent.as_secs_f64() * 1e6 / pushes as f64;
    let (mut sdk, mut floor, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let order = match run % 2 {
            0 => [Side::Sdk, Side::Floor],
            _ => [Side::Floor, Side::Sdk],
        };
        let mut spent = [0.0; 2];
        for side in order {
            let mut fresh = handler(side);
            let before = cpu_time();
            inbound_measured_pass(&mut fresh, &deliveries);
            spent[usize::from(side == Side::Floor)] = per_push(cpu_time() - before);
        }
        sdk.push(spent[0]);
        floor.push(spent[1]);
        ratio.push(spent[0] / spent[1]);
    }
    InboundResult {
        workload: workload.name(),
        pushes,
        sdk_us: Summary::of(&sdk),
        floor_us: Summary::of(&floor),
        ratio: Summary::of(&ratio),
        instructions: None,
    }
}

/// The SDK and the floor refuse nothing of the bench and answer each push the same way
/// (a sealed reply for a text, `success` for an event).
fn check_same_answers(deliveries: &[Delivery]) {
    let webhook = webhook();
    let mut floor = Floor::new();
    for delivery in deliveries.iter().take(20) {
        let sdk = webhook
            .handle(&Query::parse(&delivery.query), &delivery.body, reply_of)
            .unwrap_or_else(|error| panic!("the SDK refused a bench push: {error}"));
        let ours = floor
            .handle(&delivery.query, &delivery.body)
            .unwrap_or_else(|refused| panic!("the floor refused a bench push: {refused:?}"));
        assert_eq!(
            sdk.body == "success",
            ours == "success",
            "the answers differ in kind"
        );
        if !sdk.is_success() {
            assert!(ours.starts_with("<xml><Encrypt>") && sdk.body.starts_with("<xml><Encrypt>"));
        }
    }
}

/// `inbound-count SIDE WORKLOAD N`: runs one side over `n` pushes, for callgrind.
pub fn count_mode(args: &[String]) -> Result<(), String> {
    let usage = "usage: wx-kefu-bench inbound-count sdk|floor text|event N [PASSES]";
    let side = match args.first().map(String::as_str) {
        Some("sdk") => Side::Sdk,
        Some("floor") => Side::Floor,
        _ => return Err(usage.into()),
    };
    let workload = args.get(1).and_then(|w| Workload::parse(w)).ok_or(usage)?;
    let n = args.get(2).and_then(|n| n.parse().ok()).ok_or(usage)?;
    // An optional number of passes, for a sampling profiler (`perf record`).
    let passes: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1);
    let deliveries = deliveries(workload, n);
    for _ in 0..passes {
        inbound_measured_pass(&mut handler(side), &deliveries);
    }
    Ok(())
}

/// Instructions per push of each side, counted inside the measured function only.
pub fn instructions(workload: Workload, pushes: usize) -> Result<(f64, f64, f64), String> {
    let exe = std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))?;
    let count = |side: &str| -> Result<f64, String> {
        let output = std::process::Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                "--toggle-collect=*inbound_measured_pass*",
            ])
            .arg(&exe)
            .args(["inbound-count", side, workload.arg(), &pushes.to_string()])
            .output()
            .map_err(|e| format!("running valgrind: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "callgrind of the inbound {side} side failed:\n{stderr}"
            ));
        }
        let total: u64 = stderr
            .lines()
            .find_map(|line| line.split_once("Collected :")?.1.trim().parse().ok())
            .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))?;
        Ok(total as f64 / pushes as f64)
    };
    let sdk = count("sdk")?;
    let floor = count("floor")?;
    Ok((sdk, floor, sdk / floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_and_the_sdk_accept_the_same_pushes_and_refuse_a_forgery() {
        for workload in [Workload::Text, Workload::Event] {
            let deliveries = deliveries(workload, 30);
            check_same_answers(&deliveries);
            let mut floor = Floor::new();
            let forged = deliveries[0]
                .query
                .replace("msg_signature=", "msg_signature=0");
            let refused = floor.handle(&forged, &deliveries[0].body).unwrap_err();
            assert_eq!(format!("{refused:?}"), r#"Refused("signature")"#);
            let doctype = b"<!DOCTYPE x><xml><Encrypt>a</Encrypt></xml>";
            let refused = floor.handle(&deliveries[1].query, doctype).unwrap_err();
            assert_eq!(format!("{refused:?}"), r#"Refused("doctype")"#);
            // A repeat is answered `success` without sealing again.
            let first = floor
                .handle(&deliveries[2].query, &deliveries[2].body)
                .unwrap();
            let again = floor
                .handle(&deliveries[2].query, &deliveries[2].body)
                .unwrap();
            assert_eq!(again, "success");
            assert_eq!(first == "success", workload == Workload::Event);
        }
    }
}
