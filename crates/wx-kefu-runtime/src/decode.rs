//! Reading an answer: HTTP status, then `errcode`, then the endpoint's own shape.
//!
//! What counts as success is narrow on purpose, because a proxy, a captive portal or a
//! load balancer can answer `200` with something else entirely, and a send reported as
//! delivered when nothing says so is the worst outcome a client can have:
//!
//! - the body is one JSON object (WeChat never answers anything else);
//! - it carries `errcode` 0 exactly once, or no `errcode` at all and every field the
//!   endpoint's answer requires (`kf_list` for `get_kf_list`). An answer type that
//!   requires no field (an acknowledgement, `get_kf_session`'s state) needs the
//!   `errcode` 0: without it nothing in the body says the call succeeded;
//! - a non-zero `errcode` is an [`Error::Api`]; anything else is an [`Error::Decode`]
//!   saying what was expected.
//!
//! The answer is parsed once: its own type is read from the body while the body's top-level
//! `errcode` and `errmsg` are watched on the way ([`Watched`]), so a 1.4 MB records page
//! costs one pass whatever it holds (escapes included). Only an answer that is not of its
//! type is read again, for the `errcode` that explains it.
//! Other parsers (Python's, JavaScript's, Go's) take the last of repeated keys; this
//! decoder refuses a body that repeats `errcode`, so it never reads success where they
//! read an error.

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::error::{DecodeReason, Error, Result, excerpt, parse_rid, redacted};
use crate::generated::errcode::ErrCode;
use crate::secret::AccessToken;
use crate::token::FetchedToken;

/// Decodes an answer of `endpoint` into `T`.
///
/// `redact` strings are replaced in excerpts and messages; with `quote` false no excerpt
/// of the body is kept at all (the token calls' answers hold a token).
///
/// `needs_errcode` is whether an answer needs `errcode` 0 to be a success (it requires no
/// field of its own), as the endpoint's metadata says; `None` (a caller's own type) asks
/// the type itself.
pub(crate) fn decode<T: DeserializeOwned + 'static>(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
    redact: &[&str],
    quote: bool,
    needs_errcode: Option<bool>,
) -> Result<T> {
    decode_as(endpoint, status, body, redact, quote, || {
        needs_errcode.unwrap_or_else(type_needs_errcode::<T>)
    })
}

/// [`decode`] for an answer whose shape nobody declared (a raw call's JSON): without an
/// `errcode` any JSON object is the answer; with one, only 0 is a success.
pub(crate) fn decode_untyped(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
    redact: &[&str],
    quote: bool,
) -> Result<serde_json::Value> {
    decode_as(endpoint, status, body, redact, quote, || false)
}

/// [`decode`], asking `needs_errcode` only for an answer without `errcode`.
fn decode_as<T: DeserializeOwned>(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
    redact: &[&str],
    quote: bool,
    needs_errcode: impl FnOnce() -> bool,
) -> Result<T> {
    let quoted = |body: &[u8]| match quote {
        true => excerpt(body, redact),
        false => WITHHELD.to_owned(),
    };
    let decode_error = |source: DecodeReason| Error::Decode {
        endpoint,
        status,
        excerpt: quoted(body),
        source,
    };
    // serde quotes the value it could not take; in a token call's answer that may be a token.
    let reason = |source: &serde_json::Error| match quote {
        true => DecodeReason::new(source, redact),
        false => DecodeReason::withheld(source),
    };
    if !(200..300).contains(&status) {
        return Err(Error::Status {
            endpoint,
            status,
            excerpt: quoted(body),
        });
    }
    if first_byte(body) != Some(b'{') {
        return Err(decode_error(DecodeReason::custom(
            "the answer is not a JSON object",
        )));
    }
    // JSON is UTF-8. serde checks the strings it decodes, but not those it skips: without
    // this a body with broken text in an ignored field would pass where any other parser
    // refuses it.
    let Ok(body) = std::str::from_utf8(body) else {
        return Err(decode_error(DecodeReason::custom(
            "the answer is not UTF-8",
        )));
    };
    let mut seen = Seen::default();
    let mut parser = serde_json::Deserializer::from_str(body);
    let parsed = T::deserialize(Watched {
        parser: &mut parser,
        seen: &mut seen,
    })
    .and_then(|answer| parser.end().map(|()| answer));
    let api_error = |errcode: i64, errmsg: Option<String>| {
        let message = redacted(errmsg.unwrap_or_default(), redact);
        Error::Api {
            endpoint,
            code: ErrCode::from_code(errcode),
            rid: parse_rid(&message),
            message,
        }
    };
    match (parsed, seen.errcode) {
        (Ok(answer), Some(0)) => Ok(answer),
        (Ok(_), Some(errcode)) => Err(api_error(errcode, seen.errmsg.map(Cow::into_owned))),
        // No top-level errcode: the body must show the answer's own required fields.
        (Ok(answer), None) => match needs_errcode() {
            false => Ok(answer),
            true => Err(decode_error(DecodeReason::custom(
                "the answer has no errcode; an answer without required fields \
                 succeeds only with errcode 0",
            ))),
        },
        // Not the endpoint's answer: WeChat's error, if the body is one, else why not.
        (Err(source), _) => match serde_json::from_str::<Probe>(body) {
            Ok(Probe {
                errcode: Some(errcode),
                errmsg,
            }) if errcode != 0 => Err(api_error(errcode, errmsg)),
            _ => Err(decode_error(reason(&source))),
        },
    }
}

/// Reads the answer of a token call. Its body is never quoted in an error, whatever the
/// status: it may hold a token. A token that could not be put in a URL (empty, longer
/// than [`MAX_TOKEN_CHARS`](crate::secret::MAX_TOKEN_CHARS), or with characters a token never has) is refused here, so
/// it is never cached and cannot break the calls after it.
pub(crate) fn token_answer(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
    secret: &str,
) -> Result<FetchedToken> {
    let not_a_token = |message: &str| Error::Token {
        endpoint,
        code: None,
        message: format!(
            "{message} (HTTP status {status}, {} bytes; the body is withheld as it may hold a token)",
            body.len()
        ),
        rid: None,
        hint: "check that the base URL points at WeChat's API",
    };
    if !(200..300).contains(&status) {
        return Err(Error::Status {
            endpoint,
            status,
            excerpt: format!("{WITHHELD}, {} bytes", body.len()),
        });
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        errcode: i64,
        #[serde(default)]
        errmsg: String,
        access_token: Option<String>,
        #[serde(default)]
        expires_in: i64,
    }
    if first_byte(body) != Some(b'{') {
        return Err(not_a_token("the answer is not a JSON object"));
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(not_a_token("the answer is not UTF-8"));
    };
    let answer: Answer =
        serde_json::from_str(text).map_err(|_| not_a_token("the answer is not a token"))?;
    if answer.errcode != 0 {
        let code = ErrCode::from_code(answer.errcode);
        return Err(Error::Token {
            endpoint,
            code: Some(code),
            rid: parse_rid(&answer.errmsg),
            // WeChat has been seen to echo what it was sent: never keep the secret.
            message: redacted(answer.errmsg, &[secret]),
            hint: code
                .token_fetch_hint()
                .unwrap_or("see WeChat's global error codes"),
        });
    }
    let Some(token) = answer.access_token else {
        return Err(not_a_token("the answer has no access_token"));
    };
    if let Err(problem) = AccessToken::check(&token) {
        return Err(not_a_token(&format!(
            "the answer's access_token is unusable: {problem}"
        )));
    }
    Ok(FetchedToken {
        token: AccessToken::new(token),
        expires_in: Duration::from_secs(answer.expires_in.max(0).unsigned_abs()),
    })
}

/// [`token_answer`] for the fuzz harness: the token's lifetime, or the error. Not part of
/// the API: only with the feature `fuzzing` (and in this crate's tests).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn token_answer_for_fuzzing(status: u16, body: &[u8]) -> Result<Duration> {
    token_answer("stable_token", status, body, "").map(|fetched| fetched.expires_in)
}

/// Whether an answer of type `T` needs `errcode` 0 to be a success: it requires no field of
/// its own, so it decodes from `{}`. Only for a type nobody described (a raw call's own
/// answer type, a hand-written endpoint); generated endpoints say it in their metadata.
/// Asked once per type (a failed decode builds an error, which no call should pay for
/// every time), then read from a small table.
fn type_needs_errcode<T: DeserializeOwned + 'static>() -> bool {
    remembered(TypeId::of::<T>(), || {
        serde_json::from_slice::<T>(b"{}").is_ok()
    })
}

/// The verdict on the type `id`: from the table, or from `probe`, asked only for a type the
/// table does not hold yet.
fn remembered(id: TypeId, probe: impl FnOnce() -> bool) -> bool {
    static KNOWN: RwLock<Vec<(TypeId, bool)>> = RwLock::new(Vec::new());
    let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, needs)) = known.iter().find(|(t, _)| *t == id) {
        return *needs;
    }
    drop(known);
    let needs = probe();
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    // Bounded by the answer types of a program; the cap only guards against misuse.
    if known.len() < 1024 && known.iter().all(|(t, _)| *t != id) {
        known.push((id, needs));
    }
    needs
}

/// What an excerpt says instead of quoting the answer of a token call.
pub(crate) const WITHHELD: &str = "(withheld: the answer of a token call)";

/// The top-level `errcode` and `errmsg` of an answer.
#[derive(Deserialize)]
struct Probe {
    /// Absent is `None`; present, it must be an integer (`null` is no success).
    #[serde(default, deserialize_with = "present")]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// A field that, when present, holds a value (not `null`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    i64::deserialize(deserializer).map(Some)
}

/// The first byte of `body` that is not JSON whitespace.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// What the top level of an answer said of `errcode` and `errmsg`, noted while the answer's
/// own type was parsed. Nothing is copied: `errmsg` borrows from the body unless it holds
/// an escape.
#[derive(Default)]
struct Seen<'de> {
    /// The top-level `errcode`; a value that is not an integer fails the parse instead.
    errcode: Option<i64>,
    errmsg: Option<Cow<'de, str>>,
}

/// A top-level key of an answer, as far as the decoder cares.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    Errcode,
    Errmsg,
    Other,
}

/// The answer's parser, handing the answer's type its top-level object through
/// [`WatchedMap`]. The body is known to open with `{`, so every request for a value is
/// answered with that object.
struct Watched<'a, 'de> {
    parser: &'a mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
    seen: &'a mut Seen<'de>,
}

impl<'de> Deserializer<'de> for Watched<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> serde_json::Result<V::Value> {
        self.parser.deserialize_map(TopVisitor {
            visitor,
            seen: self.seen,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Hands the answer type's visitor the watched top-level object.
struct TopVisitor<'a, 'de, V> {
    visitor: V,
    seen: &'a mut Seen<'de>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TopVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(WatchedMap {
            map,
            seen: self.seen,
            key: Key::Other,
        })
    }
}

/// The answer's top-level object: every member is handed on as it is, `errcode` and
/// `errmsg` noted on the way. A second `errcode` fails the parse, as serde fails a struct
/// that names a field twice; so does an `errcode` that is not an integer or an `errmsg`
/// that is not a text. Nested objects are parsed directly, unwatched.
struct WatchedMap<'a, 'de, A> {
    map: A,
    seen: &'a mut Seen<'de>,
    key: Key,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WatchedMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.map.next_key_seed(KeySeed {
            seed,
            key: &mut self.key,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        use serde::de::value::I64Deserializer;
        match self.key {
            Key::Other => self.map.next_value_seed(seed),
            Key::Errcode => {
                if self.seen.errcode.is_some() {
                    return Err(de::Error::duplicate_field("errcode"));
                }
                // Read by itself and handed on, so the answer's type may name it too.
                let errcode = self.map.next_value_seed(Integer)?;
                self.seen.errcode = Some(errcode);
                seed.deserialize(Present(I64Deserializer::new(errcode)))
            }
            Key::Errmsg => {
                let text = self.map.next_value_seed(TextSeed)?;
                let handed = hand_text(&text, seed);
                self.seen.errmsg = Some(text);
                handed
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A value read by itself, handed on as the body's parser would: to an `Option` as
/// `Some` (serde's own value deserializers give an `Option` the bare value).
struct Present<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Present<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_some(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Reads an integer `errcode`.
struct Integer;

impl<'de> DeserializeSeed<'de> for Integer {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i64, D::Error> {
        deserializer.deserialize_i64(self)
    }
}

impl Visitor<'_> for Integer {
    type Value = i64;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an integer errcode")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
    }
}

/// Reads a top-level key, notes which it is and hands it to the answer type's own key seed.
struct KeySeed<'a, K> {
    seed: K,
    key: &'a mut Key,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        let name = TextSeed.deserialize(deserializer)?;
        *self.key = match &*name {
            "errcode" => Key::Errcode,
            "errmsg" => Key::Errmsg,
            _ => Key::Other,
        };
        hand_text(&name, self.seed)
    }
}

/// Hands `text` (a key or `errmsg`, read by itself) to `seed`, as the body's parser would
/// have: borrowed from the body where it holds no escape.
fn hand_text<'de, S: DeserializeSeed<'de>, E: de::Error>(
    text: &Cow<'de, str>,
    seed: S,
) -> Result<S::Value, E> {
    use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
    match text {
        Cow::Borrowed(text) => seed.deserialize(Present(BorrowedStrDeserializer::new(text))),
        Cow::Owned(text) => seed.deserialize(Present(StrDeserializer::new(text))),
    }
}

/// Reads a text of the body: borrowed from it, or unescaped into a string of its own.
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a text")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Session {
        kf_account: String,
    }

    /// An answer type with no required field, like an acknowledgement.
    #[derive(Debug, Deserialize, PartialEq)]
    struct State {
        #[serde(default)]
        kf_account: Option<String>,
    }

    fn decoded<T: DeserializeOwned + 'static>(body: &str) -> Result<T> {
        decode("t", 200, body.as_bytes(), &["TOK"], true, None)
    }

    #[test]
    fn decoding_sorts_answers() {
        let ok: Session = decoded(r#"{"errcode":0,"errmsg":"ok","kf_account":"a@b"}"#).unwrap();
        assert_eq!(ok.kf_account, "a@b");
        let ok: Session = decoded(r#"{"kf_account":"a@b"}"#).unwrap();
        assert_eq!(ok.kf_account, "a@b");
        let api =
            decoded::<Session>(r#"{"errcode":40001,"errmsg":"invalid credential TOK rid: 65-ab"}"#)
                .unwrap_err();
        assert!(
            matches!(&api, Error::Api { message, rid: Some(rid), .. } if message == "invalid credential *** rid: 65-ab" && rid == "65-ab")
        );
        let bad =
            decoded::<Session>(r#"{"errcode": invalid kf_account, "errmsg": "x"}"#).unwrap_err();
        assert!(
            matches!(&bad, Error::Decode { status: 200, excerpt, .. } if excerpt.starts_with("{\"errcode\": invalid"))
        );
        let status = decode::<Session>("t", 502, b"bad gateway", &[], true, None).unwrap_err();
        assert!(
            matches!(&status, Error::Status { status: 502, excerpt, .. } if excerpt == "bad gateway")
        );
        let ok: Session =
            decoded(" {\n \"errcode\" : 0 ,\"errmsg\":\"ok\",\"kf_account\":\"a@b\"}").unwrap();
        assert_eq!(ok.kf_account, "a@b");
        assert!(matches!(
            decoded::<Session>(r#"{"errcode":0.5,"errmsg":"x"}"#),
            Err(Error::Decode { .. })
        ));
        let withheld =
            decode::<Session>("t", 200, br#"{"access_token":"X"}"#, &[], false, None).unwrap_err();
        assert!(!withheld.to_string().contains('X'));
        // Nor does the decoder's message, which quotes the value it could not take.
        #[derive(Debug, Deserialize)]
        struct Lifetime {
            #[serde(rename = "expires_in")]
            _expires_in: i64,
        }
        let body = br#"{"expires_in":"T0KEN-FROM-ELSEWHERE"}"#;
        let quoted = decode::<Lifetime>("t", 200, body, &[], true, None).unwrap_err();
        assert!(
            quoted.to_string().contains("T0KEN"),
            "the check below means something"
        );
        let withheld = decode::<Lifetime>("t", 200, body, &[], false, None).unwrap_err();
        let shown = format!("{withheld} {withheld:?}");
        assert!(!shown.contains("T0KEN"), "{shown}");
        assert!(shown.contains("line 1"), "{shown}");
    }

    #[test]
    fn an_answer_that_is_not_the_endpoints_is_never_a_success() {
        // Objects that say nothing of success: no errcode, none of the answer's fields.
        for body in [
            "{}",
            r#"{"access_token":"ACCESS","expires_in":7200}"#,
            r#"{"kf_list":[]}"#,
            r#"{"data":{"errcode":0}}"#,
            r#"{"errmsg":"ok"}"#,
        ] {
            let error = decoded::<State>(body).unwrap_err();
            assert!(
                matches!(&error, Error::Decode { source, .. } if source.message().contains("no errcode")),
                "{body}: {error}"
            );
        }
        // Not an object at all.
        for body in [
            "[]",
            "[[\"a@b\"]]",
            r#"["errcode",0]"#,
            "0",
            "null",
            "\"ok\"",
            "",
        ] {
            let error = decoded::<Session>(body).unwrap_err();
            assert!(matches!(&error, Error::Decode { .. }), "{body}: {error}");
            let error = decoded::<State>(body).unwrap_err();
            assert!(matches!(&error, Error::Decode { .. }), "{body}: {error}");
        }
        // The answer's own field missing, errcode 0 or not.
        for body in [r#"{"errcode":0,"errmsg":"ok"}"#, r#"{"kf_online_list":[]}"#] {
            let error = decoded::<Session>(body).unwrap_err();
            assert!(
                matches!(&error, Error::Decode { source, .. } if source.message().contains("missing field `kf_account`")),
                "{body}: {error}"
            );
        }
        // An acknowledgement-like answer succeeds with errcode 0, in any key order.
        assert_eq!(
            decoded::<State>(r#"{"errcode":0,"errmsg":"ok"}"#)
                .unwrap()
                .kf_account,
            None
        );
        assert_eq!(
            decoded::<State>(r#"{"errmsg":"ok","errcode":0}"#)
                .unwrap()
                .kf_account,
            None
        );
    }

    #[test]
    fn whether_an_answer_needs_errcode_is_asked_once_per_type() {
        #[derive(Debug, Deserialize)]
        struct OnlyHere {
            #[serde(rename = "x")]
            _x: i64,
        }
        for _ in 0..3 {
            decoded::<OnlyHere>(r#"{"x":1}"#).unwrap();
        }
        // The decoding remembered the verdict: it is not asked again.
        let mut asked = 0;
        let verdict = remembered(TypeId::of::<OnlyHere>(), || {
            asked += 1;
            true
        });
        assert_eq!(
            (asked, verdict),
            (0, false),
            "a data answer without errcode costs no error per call"
        );
        // A type the table does not hold is asked once, then remembered.
        struct Fresh;
        let mut asked = 0;
        for _ in 0..3 {
            remembered(TypeId::of::<Fresh>(), || {
                asked += 1;
                true
            });
        }
        assert_eq!(asked, 1);
        assert!(!type_needs_errcode::<OnlyHere>());
        assert!(type_needs_errcode::<State>());
        assert!(type_needs_errcode::<crate::Ack>());
    }

    /// A page of records the way chat records come: quotes, newlines and `\uXXXX` escapes.
    fn records_page(errcode_first: bool) -> String {
        let record = r#"{"worker":"kf1@gh","text":"He said \"hi\"\nthen \u4f60\u597d","time":1}"#;
        let records = vec![record; 50].join(",");
        match errcode_first {
            true => {
                format!(r#"{{"errcode":0,"errmsg":"ok","kf_account":"a@b","list":[{records}]}}"#)
            }
            false => format!(r#"{{"kf_account":"a@b","list":[{records}],"errcode":0}}"#),
        }
    }

    thread_local! {
        static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// [`Session`], counting how often an answer is parsed into it.
    #[derive(Debug)]
    struct Counted(Session);

    impl<'de> Deserialize<'de> for Counted {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            PARSES.with(|parses| parses.set(parses.get() + 1));
            Session::deserialize(deserializer).map(Counted)
        }
    }

    #[test]
    fn an_answer_is_parsed_once_whatever_it_holds() {
        for body in [records_page(true), records_page(false)] {
            PARSES.with(|parses| parses.set(0));
            let answer: Counted = decoded(&body).unwrap();
            assert_eq!(answer.0.kf_account, "a@b");
            assert_eq!(PARSES.with(std::cell::Cell::get), 1, "{body}");
        }
        // Nothing but the answer's own parse reads a successful body: a probe of the
        // top-level members would refuse this repeated `errmsg`, which the answer's type
        // ignores (a repeated errmsg cannot turn an error into a success; errcode can).
        let odd: Session =
            decoded(r#"{"errcode":0,"errmsg":"ok","errmsg":"ok","kf_account":"a@b"}"#).unwrap();
        assert_eq!(odd.kf_account, "a@b");
        // An errmsg that is not a text is no answer of WeChat's.
        let odd = decoded::<Session>(r#"{"errcode":0,"errmsg":5,"kf_account":"a@b"}"#).unwrap_err();
        assert!(
            matches!(&odd, Error::Decode { source, .. } if source.message().contains("expected a text")),
            "{odd:?}"
        );
        // An error is read from the same parse when the answer's type takes the body …
        let api = decoded::<State>(r#"{"errmsg":"api unauthorized rid: 1-2","errcode":48001}"#)
            .unwrap_err();
        assert!(
            matches!(&api, Error::Api { message, rid: Some(rid), .. } if message == "api unauthorized rid: 1-2" && rid == "1-2"),
            "{api:?}"
        );
        // … and from a second reading when it does not.
        let api = decoded::<Session>(r#"{"errmsg":"x","errcode":45015}"#).unwrap_err();
        assert_eq!(api.code().map(ErrCode::code), Some(45015));
        // A key spelled with escapes is the key it spells; a type naming errcode still gets it.
        #[derive(Debug, Deserialize)]
        struct Named {
            errcode: Option<i64>,
            errmsg: String,
        }
        let named: Named = decoded(r#"{"errcod\u0065":0,"errmsg":"o\u006b"}"#).unwrap();
        assert_eq!((named.errcode, named.errmsg.as_str()), (Some(0), "ok"));
        let value: serde_json::Value = decoded(r#"{"errcode":0,"a":[1,{"errcode":2}]}"#).unwrap();
        assert_eq!(value["a"][1]["errcode"], 2);
        // Trailing text after the object is no answer.
        let trailing = decoded::<Session>(r#"{"kf_account":"a@b"} x"#).unwrap_err();
        assert!(
            matches!(&trailing, Error::Decode { source, .. } if source.message().contains("trailing")),
            "{trailing:?}"
        );
    }

    #[test]
    fn the_fuzzing_entry_reads_token_answers_as_the_client_does() {
        let fetched = token_answer_for_fuzzing(200, br#"{"access_token":"T0K","expires_in":7200}"#);
        assert_eq!(fetched.unwrap(), Duration::from_secs(7200));
        let no_token = token_answer_for_fuzzing(200, b"{}").unwrap_err();
        assert!(
            matches!(&no_token, Error::Token { code: None, message, .. } if message.contains("no access_token")),
            "{no_token:?}"
        );
        let status = token_answer_for_fuzzing(502, br#"{"access_token":"T0K"}"#).unwrap_err();
        assert!(
            matches!(status, Error::Status { status: 502, .. }),
            "{status:?}"
        );
    }

    #[test]
    fn broken_text_in_a_skipped_field_is_not_a_success() {
        let body = b"{\"errcode\":0,\"errmsg\":\"o\xffk\"}";
        let error = decode::<State>("t", 200, body, &[], true, None).unwrap_err();
        assert!(
            matches!(&error, Error::Decode { source, .. } if source.message().contains("UTF-8")),
            "{error:?}"
        );
    }

    #[test]
    fn a_repeated_errcode_is_never_read_as_success() {
        for body in [
            r#"{"errcode":0,"errmsg":"ok","errcode":40001}"#,
            r#"{"errcode":0,"kf_account":"a@b","errcode":40001}"#,
            r#"{"errcode":0,"errmsg":"ok","errcod\u0065":40001}"#,
            r#"{"errcod\u0065":0,"errcode":40001}"#,
            r#"{"errcode":40001,"errcode":0,"kf_account":"a@b"}"#,
            r#"{"errcode":null,"kf_account":"a@b"}"#,
            r#"{"errcode":"0","kf_account":"a@b"}"#,
        ] {
            // Never a success, and never a guess: the answer is refused as undecodable,
            // whether it opens the body or follows a long member.
            let long = format!(r#"{{"pad":"{}",{}"#, "x".repeat(120), &body[1..]);
            for text in [body.to_owned(), long] {
                for error in [
                    decoded::<State>(&text).unwrap_err(),
                    decoded::<Session>(&text).unwrap_err(),
                ] {
                    let Error::Decode { source, .. } = &error else {
                        panic!("{text}: expected a decode error, got {error:?}");
                    };
                    let why = source.message();
                    assert!(
                        why.contains("duplicate field `errcode`") || why.contains("invalid type"),
                        "{text}: {why}"
                    );
                }
            }
        }
        // An escaped key alone is still read as the errcode it spells.
        let api = decoded::<State>(r#"{"errcod\u0065":45015,"errmsg":"x"}"#).unwrap_err();
        assert_eq!(api.code().map(ErrCode::code), Some(45015));
        // A nested errcode is not the answer's.
        let nested = decoded::<State>(r#"{"kf_account":"a","inner":{"errcode":0}}"#).unwrap_err();
        assert!(
            matches!(&nested, Error::Decode { source, .. } if source.message().contains("no errcode")),
            "{nested:?}"
        );
        let ok: Session =
            decoded(r#"{"errcode":0,"kf_account":"a@b","list":[{"errcode":40001}]}"#).unwrap();
        assert_eq!(ok.kf_account, "a@b");
    }
}
