//! The fuzz harness of wx-kefu, on stable Rust: `cargo xtask fuzz`.
//!
//! It drives bodies through every place the SDK reads what a server says:
//! - every endpoint's answer, through the runtime's whole decode path (status, `errcode`
//!   detection, the response type), by the generated `decode_json`;
//! - the token answer (`stable_token` / `token`);
//! - the inbound side: `Webhook::handle` in plain and safe mode (signature, AES-256-CBC,
//!   the XML reader, the push decoders, sealing the reply).
//!
//! Bodies come from real answers and pushes (the samples in
//! `crates/wx-kefu-api/tests/samples/`), mutated structurally (keys removed, `errcode`s
//! added, repeated or spelled with escapes, types swapped, answers of other endpoints)
//! and byte by byte (flips, splices, truncations), plus random bytes. A run is
//! deterministic for its seed.
//!
//! It counts panics (there must be none) and false successes, judged against an oracle
//! that reads the body with `serde_json::Value`, which keeps the last of repeated keys as
//! Python, JavaScript and Go do: an answer is a success only if a reference parser sees a
//! JSON object whose `errcode` is 0 or, without an `errcode`, the endpoint's own required
//! fields; a token only with a usable `access_token`; a push only with its signature.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use wx_kefu_api::inbound::crypto::AesKey;
use wx_kefu_api::inbound::{Query, Reply, Webhook, signature};

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many bodies to drive, over all targets.
    pub bodies: u64,
    /// The seed: the same seed drives the same bodies.
    pub seed: u64,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Bodies driven through a target.
    pub bodies: u64,
    /// Bodies per target, in [`TARGETS`] order.
    pub per_target: [u64; TARGETS.len()],
    /// Bodies each target accepted (a success, a token, a push answered), in [`TARGETS`]
    /// order: a harness whose bodies all fail early would test little.
    pub accepted: [u64; TARGETS.len()],
    /// Panics caught.
    pub panics: u64,
    /// Bodies that were accepted where the oracle says they must not be.
    pub false_successes: u64,
    /// The first findings, each with its target, what was wrong and the body.
    pub findings: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Bodies per second.
    pub fn rate(&self) -> f64 {
        self.bodies as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether the run found nothing.
    pub fn clean(&self) -> bool {
        self.panics == 0 && self.false_successes == 0
    }
}

/// The targets, in the order they take turns.
pub const TARGETS: [&str; 4] = ["answers", "token", "push (plain)", "push (safe)"];

/// The most findings a report keeps.
const MAX_FINDINGS: usize = 20;

/// The sample answers, copied into the repository for the tests.
const ANSWERS: &[&str] = &[
    include_str!("../../crates/wx-kefu-api/tests/samples/getkflist.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/getonlinekflist.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/getonlinekflist-numeric-id.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/getsession.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/getsessionlist.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/getwaitcase.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/getmsglist.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/ok.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/stable_token.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/token.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/error-out-of-window.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/error-token-invalid.json"),
    include_str!("../../crates/wx-kefu-api/tests/samples/error-not-json.txt"),
];

/// Pushes in the shapes WeChat sends them (`{from}` and `{id}` are filled in).
const PUSHES: &[&str] = &[
    "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，人工]]></Content><MsgId>{id}</MsgId></xml>",
    "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId><MsgId>{id}</MsgId></xml>",
    "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_create_session]]></Event><KfAccount><![CDATA[test1@test]]></KfAccount></xml>",
    "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_switch_session]]></Event><FromKfAccount><![CDATA[a@t]]></FromKfAccount><ToKfAccount><![CDATA[b@t]]></ToKfAccount></xml>",
    "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>{id}</MsgId></xml>",
];

/// Fragments that matter to the decoders, spliced into bodies.
const JSON_FRAGMENTS: &[&str] = &[
    "\"errcode\":0,",
    "\"errcode\":40001,",
    "\"errcode\":-1,",
    "\"errcod\\u0065\":45015,",
    "\"errcode\":\"0\",",
    "\"errcode\":0.0,",
    "\"errcode\":-0,",
    "\"errcode\":99999999999999999999,",
    "\"errmsg\":\"ok\",",
    "\"access_token\":\"ACCESS\",",
    "\"expires_in\":-7200,",
    "\"kf_list\":[],",
    "\"recordlist\":null,",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "null",
    "1e309",
    "\u{0}",
    "\u{feff}",
    "\\ud800",
    " \n\t",
];

const XML_FRAGMENTS: &[&str] = &[
    "<!DOCTYPE xml [<!ENTITY x \"y\">]>",
    "&x;",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "<![CDATA[",
    "]]>",
    "<MsgType>event</MsgType>",
    "<Event>kf_close_session</Event>",
    "<MsgId>18446744073709551616</MsgId>",
    "<CreateTime>-1</CreateTime>",
    "<a><a><a><a><a><a><a><a>",
    "</xml>",
    "<xml>",
    "<?xml version=\"1.0\"?>",
    "<Encrypt>",
    "\u{0}",
    "<!--",
];

const TOKEN: &str = "fuzz_token";
const APPID: &str = "wxfuzz0123456789";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const NOW: i64 = 1_700_000_000;

/// A small, fast, seedable generator (SplitMix64): the harness needs no dependency for it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The message of the last panic, kept by the quiet hook.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Runs `target` on `body`; a panic becomes `Err` with its message.
fn guarded<T>(target: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(target)).map_err(|_| {
        LAST_PANIC
            .lock()
            .map(|message| message.clone())
            .unwrap_or_default()
    })
}

/// A printable excerpt of a body for a finding.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    if body.len() > 300 {
        let _ = write!(out, "… ({} bytes)", body.len());
    }
    out
}

struct Harness {
    rng: Rng,
    report: Report,
    /// The sample answers as JSON values, for structural mutation.
    values: Vec<Value>,
    /// Per endpoint: its name, whether its answer needs `errcode` (none of its fields is
    /// required, as its own decoder says of `{}`), and the samples that are its answers.
    endpoints: Vec<(&'static str, bool, Vec<usize>)>,
    /// The samples that are token answers.
    token_seeds: Vec<usize>,
    plain: Webhook,
    safe: Webhook,
    key: AesKey,
    pushes: u64,
}

impl Harness {
    fn new(seed: u64) -> Result<Harness, String> {
        let values: Vec<Value> = ANSWERS
            .iter()
            .filter_map(|a| serde_json::from_str(a).ok())
            .collect();
        let encoded: Vec<Vec<u8>> = values
            .iter()
            .map(|v| serde_json::to_vec(v).unwrap_or_default())
            .collect();
        let endpoints = wx_kefu_api::ENDPOINTS
            .iter()
            .map(|meta| {
                let decodes = |body: &[u8]| {
                    matches!(wx_kefu_api::decode_json(meta.name, 200, body), Some(Ok(_)))
                };
                let seeds = (0..encoded.len())
                    .filter(|&i| decodes(&encoded[i]))
                    .collect();
                (meta.name, decodes(b"{}"), seeds)
            })
            .collect();
        let token_seeds = (0..encoded.len())
            .filter(|&i| wx_kefu_api::dynamic::token_answer_for_fuzzing(200, &encoded[i]).is_ok())
            .collect();
        let plain = Webhook::builder()
            .token(TOKEN)
            .plain_mode()
            .app_id(APPID)
            .clock(|| NOW)
            .build()
            .map_err(|e| format!("the plain webhook: {e}"))?;
        let safe = Webhook::builder()
            .token(TOKEN)
            .app_id(APPID)
            .encoding_aes_key(AES_KEY)
            .map_err(|e| format!("the key: {e}"))?
            .clock(|| NOW)
            .build()
            .map_err(|e| format!("the safe webhook: {e}"))?;
        let key = AesKey::from_encoding_aes_key(AES_KEY).map_err(|e| format!("the key: {e}"))?;
        Ok(Harness {
            rng: Rng(seed),
            report: Report::default(),
            values,
            endpoints,
            token_seeds,
            plain,
            safe,
            key,
            pushes: 0,
        })
    }

    fn finding(&mut self, target: &str, what: &str, body: &[u8]) {
        if self.report.findings.len() < MAX_FINDINGS {
            self.report
                .findings
                .push(format!("{target}: {what}: {}", shown(body)));
        }
    }

    fn panicked(&mut self, target: &str, message: &str, body: &[u8]) {
        self.report.panics += 1;
        self.finding(target, &format!("panicked ({message})"), body);
    }

    // ---- bodies ----

    /// An answer-shaped body: a mutated sample, a mutated structure, or random bytes.
    fn answer_body(&mut self, seeds: &[usize]) -> Vec<u8> {
        if !seeds.is_empty() && self.rng.chance(2) {
            // One of the endpoint's own answers, edited once: near what a real answer is.
            let mut value = self.values[*self.rng.pick(seeds)].clone();
            if self.rng.chance(2) {
                self.mutate_value(&mut value, 0);
            }
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            return match self.rng.chance(3) {
                true => self.mutate_bytes_once(bytes, JSON_FRAGMENTS),
                false => bytes,
            };
        }
        match self.rng.below(10) {
            0 => self.random_bytes(),
            1..=4 => {
                let seed = self.rng.pick(ANSWERS).as_bytes().to_vec();
                self.mutate_bytes(seed, JSON_FRAGMENTS)
            }
            _ => {
                let mut value = self.rng.pick(&self.values).clone();
                for _ in 0..=self.rng.below(4) {
                    self.mutate_value(&mut value, 0);
                }
                let bytes = serde_json::to_vec(&value).unwrap_or_default();
                if self.rng.chance(2) {
                    self.mutate_bytes(bytes, JSON_FRAGMENTS)
                } else {
                    bytes
                }
            }
        }
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let len = self.rng.below(512);
        (0..len).map(|_| self.rng.next() as u8).collect()
    }

    /// A few byte-level edits: flips, fragments spliced in, cuts, repeats.
    fn mutate_bytes(&mut self, mut body: Vec<u8>, fragments: &[&str]) -> Vec<u8> {
        for _ in 0..=self.rng.below(4) {
            body = self.mutate_bytes_once(body, fragments);
        }
        body
    }

    /// One byte-level edit.
    fn mutate_bytes_once(&mut self, mut body: Vec<u8>, fragments: &[&str]) -> Vec<u8> {
        let at = self.rng.below(body.len() + 1);
        match self.rng.below(7) {
            0 if !body.is_empty() => {
                let i = self.rng.below(body.len());
                body[i] ^= 1 << self.rng.below(8);
            }
            1 | 2 => {
                let fragment = self.rng.pick(fragments).as_bytes();
                body.splice(at..at, fragment.iter().copied());
            }
            3 => body.truncate(at),
            4 if !body.is_empty() => {
                let end = at + self.rng.below(body.len() - at.min(body.len()) + 1);
                body.drain(at..end.min(body.len()));
            }
            5 if at < body.len() => {
                let end = (at + 1 + self.rng.below(64)).min(body.len());
                let slice = body[at..end].to_vec();
                body.splice(at..at, slice);
            }
            _ => body.insert(at, self.rng.next() as u8),
        }
        body
    }

    /// One structural edit somewhere in `value`.
    fn mutate_value(&mut self, value: &mut Value, depth: usize) {
        match value {
            Value::Object(map) if !map.is_empty() && depth < 4 && self.rng.chance(2) => {
                let key = map.keys().nth(self.rng.below(map.len())).cloned();
                if let Some(child) = key.and_then(|k| map.get_mut(&k)) {
                    self.mutate_value(child, depth + 1);
                }
            }
            Value::Array(items) if !items.is_empty() && depth < 4 && self.rng.chance(2) => {
                let i = self.rng.below(items.len());
                self.mutate_value(&mut items[i], depth + 1);
            }
            _ => {
                let replacement = self.edit(value.take());
                *value = replacement;
            }
        }
    }

    fn edit(&mut self, value: Value) -> Value {
        let scalars = [
            json!(0),
            json!(-1),
            json!(40001),
            json!("0"),
            json!(0.5),
            json!(null),
            json!(true),
            json!(""),
            json!(i64::MAX),
            json!("x".repeat(3000)),
            json!([]),
            json!({}),
        ];
        match (self.rng.below(8), value) {
            (0, Value::Object(mut map)) if !map.is_empty() => {
                let key = map.keys().nth(self.rng.below(map.len())).cloned();
                if let Some(key) = key {
                    map.remove(&key);
                }
                Value::Object(map)
            }
            (1, Value::Object(mut map)) => {
                let code = self.rng.pick(&[0, -1, 40001, 45015, 65400]).to_owned();
                map.insert("errcode".into(), json!(code));
                Value::Object(map)
            }
            (2, Value::Object(mut map)) => {
                let key = self.rng.pick(&[
                    "kf_list",
                    "recordlist",
                    "access_token",
                    "expires_in",
                    "msgid",
                ]);
                let scalar = self.rng.pick(&scalars).clone();
                map.insert((*key).to_owned(), scalar);
                Value::Object(map)
            }
            (3, value) => Value::Array(vec![value]),
            (4, value) => {
                let mut map = Map::new();
                map.insert("data".into(), value);
                Value::Object(map)
            }
            (5, _) => {
                // The answer of another endpoint.
                self.rng.pick(&self.values).clone()
            }
            (6, Value::Object(mut map)) => {
                let token = "T".repeat(self.rng.pick(&[0, 1, 512, 2048, 2049, 100_000]).to_owned());
                map.insert("access_token".into(), json!(token));
                Value::Object(map)
            }
            _ => self.rng.pick(&scalars).clone(),
        }
    }

    // ---- targets ----

    fn answers(&mut self) {
        let (name, needs_errcode, seeds) = self.rng.pick(&self.endpoints).clone();
        let body = self.answer_body(&seeds);
        let status = match self.rng.below(20) {
            0 => *self.rng.pick(&[0, 199, 204, 302, 404, 500, 502, 599, 999]),
            _ => 200,
        };
        let outcome = guarded(|| wx_kefu_api::decode_json(name, status, &body));
        match outcome {
            Err(message) => self.panicked("answers", &message, &body),
            Ok(Some(Ok(_))) => {
                self.report.accepted[0] += 1;
                if let Err(why) = answer_justified(status, &body, needs_errcode) {
                    self.report.false_successes += 1;
                    self.finding("answers", &format!("{name} succeeded, but {why}"), &body);
                }
            }
            Ok(Some(Err(_))) => {}
            Ok(None) => self.finding("answers", &format!("no decoder for {name}"), &body),
        }
    }

    fn token(&mut self) {
        let seeds = self.token_seeds.clone();
        let body = self.answer_body(&seeds);
        let status = if self.rng.chance(20) { 503 } else { 200 };
        let outcome =
            guarded(|| wx_kefu_api::dynamic::token_answer_for_fuzzing(status, &body).map(drop));
        match outcome {
            Err(message) => self.panicked("token", &message, &body),
            Ok(Ok(())) => {
                self.report.accepted[1] += 1;
                if let Err(why) = token_justified(status, &body) {
                    self.report.false_successes += 1;
                    self.finding("token", &format!("a token was accepted, but {why}"), &body);
                }
            }
            Ok(Err(_)) => {}
        }
    }

    /// A push-shaped XML body: a sample (with a fresh MsgId, so the dedup cache does not
    /// answer it), mutated, or random bytes.
    fn push_body(&mut self) -> Vec<u8> {
        self.pushes += 1;
        let push = self
            .rng
            .pick(PUSHES)
            .replace("{from}", "o_fuzz_user")
            .replace("{id}", &self.pushes.to_string());
        match self.rng.below(8) {
            0 => self.random_bytes(),
            1 => push.into_bytes(),
            2..=4 => self.mutate_bytes_once(push.into_bytes(), XML_FRAGMENTS),
            _ => self.mutate_bytes(push.into_bytes(), XML_FRAGMENTS),
        }
    }

    fn push_plain(&mut self) {
        let body = self.push_body();
        let nonce = self.rng.next().to_string();
        let timestamp = NOW.to_string();
        let good = signature::sign(&[TOKEN, &timestamp, &nonce]);
        let forged = self.rng.chance(4);
        let signature = if forged {
            forge(&good, &mut self.rng)
        } else {
            good
        };
        let query = Query::from_pairs([
            ("signature", signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
            ("openid", "o_fuzz_user".to_owned()),
        ]);
        let webhook = &self.plain;
        let outcome = guarded(|| {
            webhook
                .handle(&query, &body, |_| Reply::transfer_customer_service())
                .is_ok()
        });
        match outcome {
            Err(message) => self.panicked("push (plain)", &message, &body),
            Ok(true) if !forged => self.report.accepted[2] += 1,
            Ok(true) => {
                self.report.false_successes += 1;
                self.finding("push (plain)", "accepted with a forged signature", &body);
            }
            Ok(_) => {}
        }
    }

    fn push_safe(&mut self) {
        let inner = self.push_body();
        let mut random = [0_u8; 16];
        random.iter_mut().for_each(|b| *b = self.rng.next() as u8);
        let xml = String::from_utf8_lossy(&inner);
        let appid = if self.rng.chance(16) {
            "wxother"
        } else {
            APPID
        };
        let mut encrypted = self.key.encrypt_with(random, &xml, appid);
        if self.rng.chance(8) {
            // Ciphertext that is not what was sealed: bad base64, bad padding, cut blocks.
            let bytes = self.mutate_bytes(encrypted.into_bytes(), &["=", "+", "/", "A"]);
            encrypted = String::from_utf8_lossy(&bytes).into_owned();
        }
        let mut envelope = format!(
            "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        .into_bytes();
        if self.rng.chance(8) {
            envelope = self.mutate_bytes(envelope, XML_FRAGMENTS);
        }
        let nonce = self.rng.next().to_string();
        let timestamp = NOW.to_string();
        let good = signature::sign(&[TOKEN, &timestamp, &nonce, &encrypted]);
        let forged = self.rng.chance(4);
        let msg_signature = if forged {
            forge(&good, &mut self.rng)
        } else {
            good
        };
        let query = Query::from_pairs([
            ("signature", signature::sign(&[TOKEN, &timestamp, &nonce])),
            ("msg_signature", msg_signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
            ("encrypt_type", "aes".to_owned()),
            ("openid", "o_fuzz_user".to_owned()),
        ]);
        let webhook = &self.safe;
        let outcome = guarded(|| {
            webhook
                .handle(&query, &envelope, |_| Reply::transfer_customer_service())
                .is_ok()
        });
        match outcome {
            Err(message) => self.panicked("push (safe)", &message, &envelope),
            Ok(true) if !forged => self.report.accepted[3] += 1,
            Ok(true) => {
                self.report.false_successes += 1;
                self.finding(
                    "push (safe)",
                    "accepted with a forged msg_signature",
                    &envelope,
                );
            }
            Ok(_) => {}
        }
    }
}

/// A signature that differs from `good` in one hex digit (or is cut, or empty).
fn forge(good: &str, rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => String::new(),
        1 => good[..rng.below(good.len())].to_owned(),
        _ => {
            let mut chars: Vec<char> = good.chars().collect();
            let i = rng.below(chars.len());
            chars[i] = if chars[i] == '0' { '1' } else { '0' };
            chars.into_iter().collect()
        }
    }
}

/// The top-level members of a JSON object as a reference parser reads them: the last of
/// repeated keys wins (as in Python, JavaScript and Go), and members are kept raw, so that
/// what the grammar allows but a value type might refuse (`1e400`, a lone `\ud800`) does
/// not count against a body.
fn reference_object(body: &[u8]) -> Result<BTreeMap<String, Box<RawValue>>, &'static str> {
    match serde_json::from_slice::<Box<RawValue>>(body) {
        Ok(raw) if raw.get().starts_with('{') => {
            serde_json::from_str(raw.get()).map_err(|_| "a reference parser reads no JSON object")
        }
        Ok(_) => Err("a reference parser reads no JSON object"),
        Err(_) => Err("a reference parser reads no JSON"),
    }
}

/// A raw member as an integer, if it is one.
fn integer(raw: &RawValue) -> Option<i64> {
    serde_json::from_str::<i64>(raw.get()).ok()
}

/// Why a successful decode of an answer is wrong, if it is.
fn answer_justified(status: u16, body: &[u8], needs_errcode: bool) -> Result<(), &'static str> {
    if !(200..300).contains(&status) {
        return Err("the status is not 2xx");
    }
    let map = reference_object(body)?;
    match map.get("errcode") {
        Some(code) if integer(code) == Some(0) => Ok(()),
        Some(_) => Err("a reference parser reads an errcode other than 0"),
        None if needs_errcode => Err("it has no errcode and the answer has no required field"),
        None => Ok(()),
    }
}

/// Why an accepted token answer is wrong, if it is.
fn token_justified(status: u16, body: &[u8]) -> Result<(), &'static str> {
    if !(200..300).contains(&status) {
        return Err("the status is not 2xx");
    }
    let map = reference_object(body)?;
    if map
        .get("errcode")
        .is_some_and(|code| integer(code) != Some(0))
    {
        return Err("a reference parser reads an errcode other than 0");
    }
    let token = map
        .get("access_token")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    match token {
        Some(token) if wx_kefu_api::AccessToken::check(&token).is_ok() => Ok(()),
        Some(_) => Err("its access_token is unusable"),
        None => Err("a reference parser finds no access_token"),
    }
}

/// Runs the harness.
pub fn run(config: &Config) -> Result<Report, String> {
    // Panics are counted, not printed: keep their message for the report.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
    let mut harness = Harness::new(config.seed)?;
    let started = Instant::now();
    for n in 0..config.bodies {
        let target = (n % TARGETS.len() as u64) as usize;
        match target {
            0 => harness.answers(),
            1 => harness.token(),
            2 => harness.push_plain(),
            _ => harness.push_safe(),
        }
        harness.report.per_target[target] += 1;
        harness.report.bodies += 1;
    }
    harness.report.elapsed = started.elapsed();
    std::panic::set_hook(previous);
    Ok(harness.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_slice_finds_nothing() {
        // CI's slice of the harness (the full run is `cargo xtask fuzz`).
        let report = run(&Config {
            bodies: 20_000,
            seed: 2026,
        })
        .unwrap();
        assert_eq!(report.bodies, 20_000);
        // Each target accepts a share of its bodies: the mutations stay near real ones.
        for (target, accepted) in TARGETS.iter().zip(report.accepted) {
            assert!(
                accepted > 200,
                "{target}: only {accepted} of 5,000 accepted"
            );
        }
        assert!(report.clean(), "{:#?}", report.findings);
    }

    #[test]
    fn the_oracle_catches_what_it_is_for() {
        // Success where the reference parser disagrees.
        let other = Err("a reference parser reads an errcode other than 0");
        assert_eq!(
            answer_justified(200, br#"{"errcode":0,"errcode":40001}"#, false),
            other
        );
        assert_eq!(
            answer_justified(200, br#"{"errcode":0,"errcod\u0065":1}"#, false),
            other
        );
        assert_eq!(
            answer_justified(200, b"{}", true),
            Err("it has no errcode and the answer has no required field")
        );
        assert_eq!(
            answer_justified(200, b"[]", false),
            Err("a reference parser reads no JSON object")
        );
        assert_eq!(
            answer_justified(502, br#"{"errcode":0}"#, false),
            Err("the status is not 2xx")
        );
        assert!(answer_justified(200, br#"{"kf_list":[]}"#, false).is_ok());
        assert_eq!(
            answer_justified(200, br#"{"errcode":null,"kf_list":[]}"#, false),
            other
        );
        assert!(answer_justified(200, br#"{"errcode":0,"x":1e400,"y":"\ud800"}"#, true).is_ok());
        assert!(answer_justified(200, br#"{"errmsg":"ok","errcode":0}"#, true).is_ok());
        let huge = format!(r#"{{"access_token":"{}"}}"#, "A".repeat(100_000));
        assert_eq!(
            token_justified(200, huge.as_bytes()),
            Err("its access_token is unusable")
        );
        assert!(token_justified(200, br#"{"access_token":"ACCESS","expires_in":7200}"#).is_ok());
    }

    #[test]
    fn the_same_seed_drives_the_same_bodies() {
        let bodies = |seed| {
            let mut harness = Harness::new(seed).unwrap();
            (0..50)
                .map(|_| harness.answer_body(&[0, 1]))
                .collect::<Vec<_>>()
        };
        assert_eq!(bodies(7), bodies(7));
        assert_ne!(bodies(7), bodies(8));
    }
}
