//! Calls chosen at run time by name, with JSON in and out: for tools built on the SDK
//! (the CLI) that must not hand-write a line per endpoint. The generated `call_json`
//! maps a name to its request type and calls [`call_value`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::download::Download;
use crate::endpoint::{Endpoint, FileAnswer};
use crate::error::{DecodeReason, Error};
use crate::meta::FieldType;
use crate::strict::Strict;

/// Why a dynamic call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DynamicError {
    /// No endpoint has this name.
    UnknownEndpoint(String),
    /// The JSON does not describe a request of the endpoint (a missing field, a wrong type).
    Request {
        /// The endpoint's name.
        endpoint: &'static str,
        /// What serde found wrong, with the client's secret and token redacted (serde
        /// quotes the offending value).
        source: DecodeReason,
    },
    /// The JSON has a key no field of the request takes (serde would drop it silently,
    /// and the request would go out without it); nothing was sent.
    UnknownKey {
        /// The endpoint's name.
        endpoint: &'static str,
        /// The key, with its path (`text.colour`, `articles[0].titel`).
        key: String,
        /// The names accepted at that place.
        accepted: Vec<&'static str>,
    },
    /// The endpoint's answer is a file: call it with `download_json`.
    FileAnswer(&'static str),
    /// The endpoint's answer is not a file: call it with `call_json`.
    NotAFile(&'static str),
    /// The call itself failed.
    Call(Error),
}

impl std::fmt::Display for DynamicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DynamicError::UnknownEndpoint(name) => write!(f, "no endpoint is named `{name}`"),
            DynamicError::Request { endpoint, source } => {
                write!(f, "the request for `{endpoint}` is malformed: {source}")
            }
            DynamicError::UnknownKey {
                endpoint,
                key,
                accepted,
            } => write!(
                f,
                "the request for `{endpoint}` has no field `{key}`; accepted there: {}",
                accepted.join(", ")
            ),
            DynamicError::FileAnswer(name) => write!(f, "`{name}` answers a file: download it"),
            DynamicError::NotAFile(name) => write!(f, "`{name}` does not answer a file"),
            // The call's own error, as it is.
            DynamicError::Call(error) => std::fmt::Display::fmt(error, f),
        }
    }
}

impl std::error::Error for DynamicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DynamicError::Request { source, .. } => Some(source),
            // Transparent: the call's error stands for itself.
            DynamicError::Call(error) => error.source(),
            _ => None,
        }
    }
}

impl From<Error> for DynamicError {
    fn from(error: Error) -> DynamicError {
        DynamicError::Call(error)
    }
}

/// `request` decoded as `E`, and how to report a value serde refuses (the request, or
/// the answer on its way back to JSON), with the client's secret and token redacted.
fn decode_request<E: Endpoint + DeserializeOwned>(
    client: &Client,
    request: serde_json::Value,
) -> Result<(E, impl Fn(serde_json::Error) -> DynamicError + '_), DynamicError> {
    let malformed = move |error: serde_json::Error| DynamicError::Request {
        endpoint: E::META.name,
        source: client.decode_reason(&error),
    };
    let meta = E::META;
    // The top level against the spec's fields (a request with a union reads its keys
    // through a map, without naming its fields to serde), then every level below through
    // serde's own field lists.
    if let serde_json::Value::Object(map) = &request
        && !meta.fields.is_empty()
    {
        let accepted: Vec<&'static str> = meta
            .fields
            .iter()
            .flat_map(|field| match field.ty {
                FieldType::Union { tag, variants } => std::iter::once(tag)
                    .chain(variants.iter().copied())
                    .collect(),
                _ => vec![field.wire],
            })
            .collect();
        if let Some(key) = map
            .iter()
            .find(|(key, value)| !value.is_null() && !accepted.contains(&key.as_str()))
            .map(|(key, _)| key.clone())
        {
            return Err(DynamicError::UnknownKey {
                endpoint: meta.name,
                key,
                accepted,
            });
        }
    }
    match crate::strict::decode::<E>(request) {
        Ok(request) => Ok((request, malformed)),
        Err(Strict::Malformed(error)) => Err(malformed(error)),
        Err(Strict::Unknown(first)) => Err(DynamicError::UnknownKey {
            endpoint: meta.name,
            key: first.path,
            accepted: first.accepted,
        }),
    }
}

/// Why a request given as JSON is not a valid request of its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestProblem {
    /// It does not decode into the endpoint's request type (serde's words).
    Malformed(String),
    /// It has a key no field takes, here named with its path.
    UnknownKey(String),
    /// It decodes, and breaks a rule of the spec.
    Invalid(crate::validate::Invalid),
}

/// Checks `request` as a request of `E`, as a typed call checks it (type, unknown keys,
/// every rule), sending nothing.
#[doc(hidden)]
pub fn check_value<E: Endpoint + DeserializeOwned>(
    request: serde_json::Value,
) -> Result<(), RequestProblem> {
    let request = crate::strict::decode::<E>(request).map_err(|problem| match problem {
        Strict::Malformed(error) => RequestProblem::Malformed(error.to_string()),
        Strict::Unknown(first) => RequestProblem::UnknownKey(first.path),
    })?;
    request.validate().map_err(RequestProblem::Invalid)
}

/// Decodes `request` as `E`, calls it, and encodes the answer as JSON.
pub async fn call_value<E>(
    client: &Client,
    request: serde_json::Value,
) -> Result<serde_json::Value, DynamicError>
where
    E: Endpoint + DeserializeOwned + Send + Sync,
    E::Response: Serialize + Send,
{
    let (request, malformed) = decode_request::<E>(client, request)?;
    let response = client.call(request).await?;
    serde_json::to_value(&response).map_err(malformed)
}

/// Decodes `request` as `E`, downloads with it, and encodes a JSON answer as JSON.
pub async fn download_value<E>(
    client: &Client,
    request: serde_json::Value,
) -> Result<Download<serde_json::Value>, DynamicError>
where
    E: FileAnswer + DeserializeOwned + Send + Sync,
    E::Response: Serialize + Send,
{
    let (request, malformed) = decode_request::<E>(client, request)?;
    Ok(match client.download(request).await? {
        Download::File(file) => Download::File(file),
        Download::Json(json) => Download::Json(serde_json::to_value(&json).map_err(malformed)?),
    })
}

/// Decodes an answer of `E` exactly as [`Client::call`] does (status, `errcode`, the
/// response type) and encodes it as JSON. For the fuzz harness, through the generated
/// `decode_json`; nothing is redacted, as no secret is involved.
#[doc(hidden)]
pub fn decode_value<E>(status: u16, body: &[u8]) -> Result<serde_json::Value, Error>
where
    E: Endpoint,
    E::Response: Serialize,
{
    let meta = E::META;
    let response: E::Response = crate::decode::decode(
        meta.name,
        status,
        body,
        &[],
        meta.auth,
        meta.answer_needs_errcode,
    )?;
    serde_json::to_value(&response).map_err(|error| Error::Decode {
        endpoint: meta.name,
        status,
        excerpt: String::new(),
        source: DecodeReason::new(&error, &[]),
    })
}

/// The token answer's reader, for the fuzz harness only (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use crate::decode::token_answer_for_fuzzing;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Numbered;

    #[tokio::test]
    async fn a_malformed_request_never_quotes_the_secret() {
        let secret = "SECRET-d7a1-never-print";
        let client = Client::builder()
            .app_id("wx")
            .app_secret(secret)
            .base_url("http://127.0.0.1:1")
            .build()
            .unwrap();
        let error = call_value::<Numbered>(&client, serde_json::json!({"number": secret}))
            .await
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(matches!(
            error,
            DynamicError::Request {
                endpoint: "numbered",
                ..
            }
        ));
        assert!(shown.contains("invalid type: string"), "{shown}");
        assert!(!shown.contains(secret), "{shown}");
    }
}
