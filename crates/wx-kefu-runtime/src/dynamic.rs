//! Calls chosen at run time by name, with JSON in and out: for tools built on the SDK
//! (the CLI) that must not hand-write a line per endpoint. The generated `call_json`
//! maps a name to its request type and calls [`call_value`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::Error;

/// Why a dynamic call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DynamicError {
    /// No endpoint has this name.
    #[error("no endpoint is named `{0}`")]
    UnknownEndpoint(String),
    /// The JSON does not describe a request of the endpoint (a missing field, a wrong type).
    #[error("the request for `{endpoint}` is malformed: {source}")]
    Request {
        /// The endpoint's name.
        endpoint: &'static str,
        /// What serde found wrong.
        source: serde_json::Error,
    },
    /// The call itself failed.
    #[error(transparent)]
    Call(#[from] Error),
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
    let request: E = serde_json::from_value(request).map_err(|source| DynamicError::Request {
        endpoint: E::META.name,
        source,
    })?;
    let response = client.call(request).await?;
    serde_json::to_value(&response).map_err(|source| DynamicError::Request {
        endpoint: E::META.name,
        source,
    })
}
