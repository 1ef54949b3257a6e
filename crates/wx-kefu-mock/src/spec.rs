//! Request checking derived from the spec: the endpoints, their fields, locations, types and
//! rules come from `wx_kefu_api::ENDPOINTS`, and every request is finally deserialised into the
//! SDK's generated request type and run through its `validate()`, so the emulator accepts
//! exactly what the spec allows and answers the errcode the spec names.
//!
//! Top-level structure (unknown fields, types, required fields, where a field travels) is
//! checked here from the field metadata, so that a malformed request gets WeChat's answer
//! (44002, 47001, the field's own errcode) rather than a serde message.

use bytes::Bytes;
use serde_json::{Map, Value};
use wx_kefu_runtime::meta::{EndpointMeta, FieldMeta, FieldType, Location};

use crate::answer::WxError;

/// A request as it arrived, before any checking.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    /// Set when the query string could not be decoded.
    pub(crate) query_error: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
    /// The parts of a `multipart/form-data` body, or why it could not be read.
    pub(crate) multipart: Option<Result<Vec<FilePart>, String>>,
}

impl ApiRequest {
    /// The first value of a query parameter.
    pub(crate) fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub(crate) struct FilePart {
    pub(crate) name: String,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) data: Bytes,
}

/// A request that passed every check: its fields (query and body merged, typed as the spec
/// says) and its file, if the endpoint takes one.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) fields: Map<String, Value>,
    pub(crate) file: Option<FilePart>,
}

/// The endpoint served at `path`.
pub(crate) fn endpoint(path: &str) -> Option<&'static EndpointMeta> {
    wx_kefu_api::ENDPOINTS
        .iter()
        .copied()
        .find(|meta| meta.path == path)
}

fn format_error(hint: impl Into<String>) -> WxError {
    WxError::new(47001).hint(hint)
}

/// The errcode for a missing required field: the field's own for being empty (a missing
/// `appid` is 41002), else the field's, else one WeChat uses.
fn missing(meta: &EndpointMeta, field: &FieldMeta) -> WxError {
    let code = meta
        .errcode_for(&format!("{}/empty", field.wire))
        .or_else(|| meta.errcode_for(field.wire))
        .unwrap_or(47001);
    WxError::new(code).hint(format!("`{}` is required", field.wire))
}

fn in_query(field: &FieldMeta) -> bool {
    matches!(field.location, Location::Query | Location::BodyAndQuery)
}

fn in_body(field: &FieldMeta) -> bool {
    matches!(field.location, Location::Body | Location::BodyAndQuery)
}

/// A query value typed as the field's wire type.
fn query_value(field: &FieldMeta, raw: &str) -> Result<Value, WxError> {
    match field.ty {
        FieldType::String | FieldType::StringOrNumber | FieldType::Enum(_) => {
            Ok(Value::String(raw.to_owned()))
        }
        FieldType::Integer => raw
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format_error(format!("`{}` must be an integer", field.wire))),
        FieldType::Bool => match raw {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(format_error(format!(
                "`{}` must be true or false",
                field.wire
            ))),
        },
        FieldType::Object | FieldType::Array | FieldType::Union { .. } | FieldType::File => Err(
            format_error(format!("`{}` cannot travel in the query", field.wire)),
        ),
    }
}

/// A `Content-Type`'s type and subtype, lowercase, without parameters.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The JSON object of a body, or WeChat's answer to a body that is not one.
fn json_object(incoming: &ApiRequest) -> Result<Map<String, Value>, WxError> {
    if incoming.body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::new(44002));
    }
    if let Some(content_type) = &incoming.content_type {
        let essence = essence(content_type);
        if !matches!(
            essence.as_str(),
            "application/json" | "text/json" | "text/plain"
        ) {
            return Err(format_error(format!(
                "content type `{essence}` is not JSON"
            )));
        }
    }
    match serde_json::from_slice::<Value>(&incoming.body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(format_error("the body is not a JSON object")),
        Err(error) => Err(format_error(format!("invalid JSON: {error}"))),
    }
}

/// The file field of a multipart endpoint.
/// The form's other fields go into `fields`.
fn multipart_file(
    meta: &EndpointMeta,
    incoming: &ApiRequest,
    field: &FieldMeta,
    fields: &mut Map<String, Value>,
) -> Result<FilePart, WxError> {
    if incoming.body.is_empty() {
        return Err(WxError::new(41005).hint("no body: the file is missing"));
    }
    let parts = match &incoming.multipart {
        None => return Err(WxError::new(41005).hint("the body must be multipart/form-data")),
        Some(Err(error)) => return Err(format_error(format!("malformed multipart body: {error}"))),
        Some(Ok(parts)) => parts,
    };
    // A file part missing, misnamed or empty: WeChat's 41005 (media data missing), before
    // any other check of the form.
    let file = parts
        .iter()
        .find(|part| part.name == field.wire)
        .ok_or_else(|| WxError::new(41005).hint(format!("no form field `{}`", field.wire)))?;
    if file.data.is_empty() {
        return Err(WxError::new(41005).hint(format!("the form field `{}` is empty", field.wire)));
    }
    let known = |name: &str| {
        meta.field(name)
            .is_some_and(|f| f.location == Location::Multipart)
    };
    if let Some(unknown) = parts.iter().find(|part| !known(&part.name)) {
        return Err(format_error(format!(
            "unknown form field `{}`",
            unknown.name
        )));
    }
    // The form's other fields carry JSON (a video's `description`).
    for part in parts.iter().filter(|part| part.name != field.wire) {
        let value: Value = serde_json::from_slice(&part.data).map_err(|error| {
            format_error(format!("form field `{}` is not JSON: {error}", part.name))
        })?;
        fields.insert(part.name.clone(), value);
    }
    Ok(file.clone())
}

/// Whether a present value has the field's wire type.
fn check_type(meta: &EndpointMeta, field: &FieldMeta, value: &Value) -> Result<(), WxError> {
    let wire = field.wire;
    let ok = match field.ty {
        FieldType::String => value.is_string(),
        FieldType::Integer => value.is_i64(),
        FieldType::Bool => value.is_boolean(),
        FieldType::StringOrNumber => value.is_string() || value.is_i64() || value.is_u64(),
        FieldType::Object => value.is_object(),
        FieldType::Array => value.is_array(),
        FieldType::Enum(values) => {
            let Some(text) = value.as_str() else {
                return Err(format_error(format!("`{wire}` must be a string")));
            };
            if !values.contains(&text) {
                let code = meta.errcode_for(wire).unwrap_or(47001);
                return Err(WxError::new(code)
                    .hint(format!("`{wire}` must be one of {}", values.join(", "))));
            }
            true
        }
        FieldType::Union { .. } | FieldType::File => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format_error(format!("`{wire}` has the wrong type")))
    }
}

/// A union tagged by a sibling field: the tag names a variant, whose payload object sits
/// under the key of the same name; payloads of other variants are not allowed.
fn check_union(
    meta: &EndpointMeta,
    fields: &Map<String, Value>,
    field: &FieldMeta,
    tag: &str,
    variants: &[&str],
) -> Result<(), WxError> {
    let chosen = match fields.get(tag) {
        None | Some(Value::Null) if !field.required => return Ok(()),
        None | Some(Value::Null) => return Err(format_error(format!("`{tag}` is required"))),
        Some(Value::String(chosen)) => chosen.as_str(),
        Some(_) => return Err(format_error(format!("`{tag}` must be a string"))),
    };
    if !variants.contains(&chosen) {
        // The spec says what WeChat answers: a tag it refuses here (`msgtype=link`), or any
        // tag that names no variant (`msgtype`).
        let code = meta
            .errcode_for(&format!("{tag}={chosen}"))
            .or_else(|| meta.errcode_for(tag))
            .unwrap_or(47001);
        return Err(
            WxError::new(code).hint(format!("`{tag}` must be one of {}", variants.join(", ")))
        );
    }
    if let Some(other) = variants
        .iter()
        .find(|v| **v != chosen && fields.contains_key(**v))
    {
        return Err(format_error(format!(
            "`{other}` does not belong to {tag} `{chosen}`"
        )));
    }
    match fields.get(chosen) {
        Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(format_error(format!("`{chosen}` must be an object"))),
        None => Err(format_error(format!(
            "`{chosen}` is required when {tag} is `{chosen}`"
        ))),
    }
}

/// The structural checks of a request, then `typed`.
pub(crate) fn check(meta: &EndpointMeta, incoming: &ApiRequest) -> Result<Checked, WxError> {
    let mut checked = Checked::default();

    if let Some(error) = &incoming.query_error {
        return Err(format_error(format!("malformed query: {error}")));
    }
    for (key, raw) in &incoming.query {
        if key == "access_token" || checked.fields.contains_key(key) {
            continue;
        }
        let field = meta
            .field(key)
            .filter(|field| in_query(field))
            .ok_or_else(|| format_error(format!("unknown query parameter `{key}`")))?;
        checked.fields.insert(key.clone(), query_value(field, raw)?);
    }

    // Fields that may travel in the query instead (the older form of the delete call) let
    // an empty body through when the query brought them.
    let query_suffices = incoming.body.is_empty()
        && meta
            .fields
            .iter()
            .filter(|field| in_body(field))
            .all(|field| {
                field.location == Location::BodyAndQuery && checked.fields.contains_key(field.wire)
            });
    if meta.fields.iter().any(in_body) && !query_suffices {
        let union = meta.fields.iter().find_map(|field| match field.ty {
            FieldType::Union { tag, variants } => Some((tag, variants)),
            _ => None,
        });
        let body = json_object(incoming)?;
        // The payload key named by the tag is allowed even when the tag names no variant,
        // so that an unknown `msgtype` gets its own errcode rather than "unknown field".
        let chosen = union
            .and_then(|(tag, _)| body.get(tag))
            .and_then(Value::as_str)
            .map(str::to_owned);
        for (key, value) in body {
            match meta.field(&key).filter(|field| in_body(field)) {
                Some(field) if field.location == Location::BodyAndQuery => {
                    if checked
                        .fields
                        .get(&key)
                        .is_some_and(|from_query| *from_query != value)
                    {
                        return Err(format_error(format!(
                            "`{key}` differs between the query and the body"
                        )));
                    }
                    checked.fields.insert(key, value);
                }
                Some(_) => {
                    checked.fields.insert(key, value);
                }
                None if union.is_some_and(|(tag, variants)| {
                    key == tag || variants.contains(&key.as_str())
                }) || chosen.as_deref() == Some(key.as_str()) =>
                {
                    checked.fields.insert(key, value);
                }
                None => return Err(format_error(format!("unknown field `{key}`"))),
            }
        }
    }

    for field in meta.fields {
        match field.ty {
            FieldType::File => {
                checked.file = Some(multipart_file(meta, incoming, field, &mut checked.fields)?)
            }
            FieldType::Union { tag, variants } => {
                check_union(meta, &checked.fields, field, tag, variants)?
            }
            _ => match checked.fields.get(field.wire) {
                None | Some(Value::Null) if field.required => return Err(missing(meta, field)),
                None | Some(Value::Null) => {}
                Some(value) => check_type(meta, field, value)?,
            },
        }
    }

    Ok(checked)
}
