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
//! The common answer opening with `{"errcode":0` is parsed once, not probed first, but
//! only when that fast path cannot disagree with a full parse: the body names `errcode`
//! once and holds no backslash (an escape such as `\u0065` could spell a second `errcode`).
//! Other parsers (Python's, JavaScript's, Go's) take the last of repeated keys; this
//! decoder refuses a body that repeats `errcode`, so it never reads success where they
//! read an error.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use std::any::TypeId;
use std::sync::{LazyLock, PoisonError, RwLock};

use memchr::memmem;
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
    let errcode = match errcode_in(body) {
        Ok(errcode) => errcode,
        Err(source) => return Err(decode_error(reason(&source))),
    };
    match errcode {
        Some(Probe {
            errcode: Some(0), ..
        }) => {}
        Some(Probe {
            errcode: Some(errcode),
            errmsg,
        }) => {
            let message = redacted(errmsg.unwrap_or_default(), redact);
            return Err(Error::Api {
                endpoint,
                code: ErrCode::from_code(errcode),
                rid: parse_rid(&message),
                message,
            });
        }
        // No top-level errcode: the body must show the answer's own required fields.
        Some(Probe { errcode: None, .. }) | None => {
            if needs_errcode() {
                return Err(decode_error(DecodeReason::custom(
                    "the answer has no errcode; an answer without required fields \
                     succeeds only with errcode 0",
                )));
            }
        }
    }
    serde_json::from_str(body).map_err(|source| decode_error(reason(&source)))
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

/// The answer's top-level `errcode`, read without a full parse where that cannot differ
/// from one: `None` when the body cannot hold the key anywhere, a `Probe` otherwise.
/// A body that repeats the key is an error (serde refuses duplicate fields).
fn errcode_in(text: &str) -> serde_json::Result<Option<Probe>> {
    match fast_errcode(text) {
        Some(decided) => Ok(decided),
        None => serde_json::from_str::<Probe>(text).map(Some),
    }
}

/// What [`errcode_in`] can tell without a full parse: `Some` when the body cannot hold the
/// key anywhere (`Some(None)`) or opens with `errcode` 0 and names it once; `None` when only
/// a full probe can tell.
fn fast_errcode(text: &str) -> Option<Option<Probe>> {
    /// The key, searched with a finder built once (building one costs more than a search).
    const KEY: &[u8] = b"\"errcode\"";
    /// Up to this length a body is searched byte by byte.
    const SHORT: usize = 96;
    static ERRCODE: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(KEY));
    let body = text.as_bytes();
    // An escape could spell a key (`"errcod\u0065"`) that a byte search misses; WeChat's
    // answers rarely hold one, so any backslash sends the body to the full probe.
    let plain = memchr::memchr(b'\\', body).is_none();
    let (first, again) = match body.len() {
        // A short answer (an acknowledgement) is searched directly: a vector searcher's
        // set-up costs more than the whole search.
        0..=SHORT => {
            let mut mentions = body
                .windows(KEY.len())
                .enumerate()
                .filter(|(_, window)| *window == KEY)
                .map(|(at, _)| at);
            let first = mentions.next();
            (first, first.is_some() && mentions.next().is_some())
        }
        _ => {
            let mut mentions = ERRCODE.find_iter(body);
            let first = mentions.next();
            (first, first.is_some() && mentions.next().is_some())
        }
    };
    match (plain, first, again) {
        (true, None, _) => Some(None),
        (true, Some(_), false) if opens_with_errcode_zero(body) => Some(Some(Probe {
            errcode: Some(0),
            errmsg: None,
        })),
        _ => None,
    }
}

/// The first byte of `body` that is not JSON whitespace.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Whether `body` is an object whose first key is `errcode` with the value 0, as WeChat's
/// successful answers usually begin. The caller makes sure the key appears only once.
fn opens_with_errcode_zero(body: &[u8]) -> bool {
    /// What follows `expected` once JSON whitespace is skipped, if it comes next.
    fn after<'a>(rest: &'a [u8], expected: &[u8]) -> Option<&'a [u8]> {
        let start = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
        rest[start..].strip_prefix(expected)
    }
    let rest = after(body, b"{")
        .and_then(|rest| after(rest, b"\"errcode\""))
        .and_then(|rest| after(rest, b":"))
        .and_then(|rest| after(rest, b"0"));
    rest.is_some_and(|rest| after(rest, b",").is_some() || after(rest, b"}").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_errcode_zero_skips_the_probe() {
        for body in [
            r#"{"errcode":0,"errmsg":"ok"}"#,
            r#"{"errcode":0}"#,
            " {\r\n\t\"errcode\" :\n0 , \"errmsg\":\"ok\"}",
        ] {
            assert!(opens_with_errcode_zero(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"errcode":40001,"errmsg":"invalid credential"}"#,
            r#"{"errcode":0.0}"#,
            r#"{"errcode":01}"#,
            r#"{"errcode":-0}"#,
            r#"{"errmsg":"ok","errcode":0}"#,
            r#"{"kf_list":[{"errcode":0}],"errcode":40001}"#,
            r#"["errcode",0]"#,
            r#"{"errcode":0"#,
            "",
        ] {
            assert!(!opens_with_errcode_zero(body.as_bytes()), "{body}");
        }
    }

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

    /// The full probes reading `body` takes: 0 when the fast path decides it, else 1.
    fn probes(body: &str) -> usize {
        usize::from(fast_errcode(body).is_none())
    }

    #[test]
    fn common_answers_are_parsed_once_and_doubtful_ones_probed() {
        // The fast paths are what make a typical answer cost one parse: an answer opening
        // with errcode 0, and one that names no errcode at all.
        let once = probes;
        assert_eq!(once(r#"{"errcode":0,"errmsg":"ok"}"#), 0);
        assert_eq!(once(r#"{"kf_account":"a@b"}"#), 0);
        // Whatever could hide a second errcode, or opens otherwise, gets the full probe.
        assert_eq!(once(r#"{"errmsg":"ok","errcode":0}"#), 1);
        assert_eq!(once(r#"{"errcode":0,"errcode":40001}"#), 1);
        assert_eq!(once(r#"{"errcode":0,"x":"\u0041"}"#), 1);
        assert_eq!(once(r#"{"x":"\u0041"}"#), 1);
        // The same past the length searched byte by byte.
        assert_eq!(once(&padded(r#"{"errcode":0,"errmsg":"ok"}"#)), 0);
        assert_eq!(once(&padded(r#"{"kf_account":"a@b"}"#)), 0);
        assert_eq!(once(&padded(r#"{"errcode":0,"errcode":40001}"#)), 1);
    }

    /// `body` made longer than the answers searched byte by byte, by a field after its
    /// first member (or first of all, when it has one member), so that what it opens
    /// with stays.
    fn padded(body: &str) -> String {
        let pad = format!("\"pad\":\"{}\"", "x".repeat(120));
        let long = match body.contains(',') {
            true => body.replacen(',', &format!(",{pad},"), 1),
            false => body.replacen('{', &format!("{{{pad},"), 1),
        };
        assert!(long.len() > 96, "{long}");
        long
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
            // Never a success, and never a guess: the answer is refused as undecodable.
            for text in [body.to_owned(), padded(body)] {
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
