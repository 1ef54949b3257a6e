//! Turning an endpoint's arguments into its JSON request, for [`wx_kefu_api::call_json`].
//!
//! The request is then decoded into the generated request type and validated before any
//! I/O, so that the spec's rules (kf_account format, 24-hour windows, …) hold for the
//! command line exactly as for typed calls. What the types cannot see — a file's size,
//! the shape of a JSON option — is checked here, also before any request.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use serde_json::{Map, Value};
use wx_kefu_api::meta::{EndpointMeta, FieldMeta, FieldType};

use crate::args::{PAYLOAD_FIELDS, PAYLOAD_JSON, field_id, field_long};
use crate::error::{CliError, CliResult};

/// Builds the JSON request of `meta` from its subcommand's matches.
pub fn build(meta: &EndpointMeta, matches: &ArgMatches) -> CliResult<Value> {
    let mut request = Map::new();
    for field in meta.fields {
        match field.ty {
            FieldType::Union { tag, variants } => {
                let Some(kind) = matches.get_one::<String>(&field_id(tag)) else {
                    continue;
                };
                if !variants.contains(&kind.as_str()) {
                    return Err(CliError::usage(format!(
                        "unknown {tag} `{kind}`: expected one of {}",
                        variants.join(", ")
                    )));
                }
                let content = payload(matches, tag)?;
                request.insert(tag.to_owned(), Value::String(kind.clone()));
                request.insert(kind.clone(), Value::Object(content));
            }
            _ => {
                if let Some(value) = scalar(field, matches)? {
                    request.insert(field.wire.to_owned(), value);
                }
            }
        }
    }
    Ok(Value::Object(request))
}

/// The value of a non-union field, when given.
fn scalar(field: &FieldMeta, matches: &ArgMatches) -> CliResult<Option<Value>> {
    let id = field_id(field.wire);
    let text = |matches: &ArgMatches| matches.get_one::<String>(&id).cloned();
    Ok(match field.ty {
        FieldType::Integer => matches.get_one::<i64>(&id).map(|n| Value::from(*n)),
        FieldType::Bool => matches.get_one::<bool>(&id).map(|b| Value::Bool(*b)),
        FieldType::File => match matches.get_one::<PathBuf>(&id) {
            Some(path) => {
                check_file(field, path)?;
                Some(Value::String(path.to_string_lossy().into_owned()))
            }
            None => None,
        },
        FieldType::Object | FieldType::Array => match text(matches) {
            Some(json) => Some(json_option(field, &json)?),
            None => None,
        },
        _ => text(matches).map(Value::String),
    })
}

/// A file must exist, be a regular file (a FIFO or a device would block the command past
/// its timeout) and respect the field's size limit; checked before any request.
pub fn check_file(field: &FieldMeta, path: &Path) -> CliResult {
    let meta = std::fs::metadata(path).map_err(|error| {
        CliError::usage(format!(
            "cannot read {} for `{}`: {error}",
            path.display(),
            field.wire
        ))
    })?;
    if !meta.is_file() {
        return Err(CliError::usage(format!(
            "{} is not a file (`{}` needs one)",
            path.display(),
            field.wire
        )));
    }
    if let Some(max) = field.rules.max_bytes
        && meta.len() > max
    {
        return Err(CliError::usage(format!(
            "{} is {} bytes ({}); `{}` allows at most {max} bytes ({})",
            path.display(),
            meta.len(),
            human_bytes(meta.len()),
            field.wire,
            human_bytes(max)
        ))
        .hint(
            "shrink or recompress the file (640×640 JPEG is what WeChat recommends for avatars)",
        ));
    }
    Ok(())
}

fn human_bytes(bytes: u64) -> String {
    // A rounded size for people: precision is irrelevant.
    let mib = bytes as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MB")
}

/// An object or array option, parsed and checked for its kind.
fn json_option(field: &FieldMeta, text: &str) -> CliResult<Value> {
    let flag = format!("--{}", field_long(field));
    let value: Value = serde_json::from_str(text)
        .map_err(|error| CliError::usage(format!("{flag} is not valid JSON: {error}")))?;
    let ok = match field.ty {
        FieldType::Object => value.is_object(),
        _ => value.is_array(),
    };
    if !ok {
        let kind = match field.ty {
            FieldType::Object => "a JSON object, e.g. '{\"key\":\"value\"}'",
            _ => "a JSON array, e.g. '[...]'",
        };
        return Err(CliError::usage(format!("{flag} must be {kind}")));
    }
    Ok(value)
}

/// A union's content: `--payload` first, then each `--field` on top.
fn payload(matches: &ArgMatches, tag: &str) -> CliResult<Map<String, Value>> {
    let mut content = match matches.get_one::<String>(PAYLOAD_JSON) {
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(path) => read_regular(Path::new(path)).map_err(|error| {
                    CliError::usage(format!("cannot read the payload file {path}: {error}"))
                })?,
                None => text.clone(),
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(CliError::usage(format!(
                        "--payload must be a JSON object: the {tag}'s content"
                    )));
                }
                Err(error) => {
                    return Err(CliError::usage(format!(
                        "--payload is not valid JSON: {error}"
                    )));
                }
            }
        }
        None => Map::new(),
    };
    for entry in matches
        .get_many::<String>(PAYLOAD_FIELDS)
        .into_iter()
        .flatten()
    {
        let (key, value) = parse_field(entry)?;
        content.insert(key, value);
    }
    Ok(content)
}

/// The most a text file the CLI reads (a payload, the config, a checkpoint) may hold.
const MAX_TEXT_FILE: u64 = 16 * 1024 * 1024;

/// A text file's content, only from a regular file (never a FIFO or device, which would
/// block) and at most [`MAX_TEXT_FILE`] bytes.
pub fn read_regular(path: &Path) -> std::io::Result<String> {
    // Checked before opening: opening a FIFO for reading waits for a writer.
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_TEXT_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_TEXT_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("more than {MAX_TEXT_FILE} bytes"),
        ));
    }
    Ok(text)
}

/// `KEY=VALUE` (a string) or `KEY:=JSON`.
fn parse_field(entry: &str) -> CliResult<(String, Value)> {
    let Some((key, value)) = entry.split_once('=') else {
        return Err(CliError::usage(format!(
            "--field `{entry}` must be KEY=VALUE (a string) or KEY:=JSON"
        )));
    };
    let (key, value) = match key.strip_suffix(':') {
        Some(key) => {
            let json = serde_json::from_str(value).map_err(|error| {
                CliError::usage(format!("--field {key}:= is not valid JSON: {error}"))
            })?;
            (key, json)
        }
        None => (key, Value::String(value.to_owned())),
    };
    if key.is_empty() {
        return Err(CliError::usage(format!("--field `{entry}` has no key")));
    }
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_strings_or_json() {
        assert_eq!(
            parse_field("content=a=b").unwrap(),
            ("content".to_owned(), Value::from("a=b"))
        );
        assert_eq!(
            parse_field("list:=[1]").unwrap(),
            ("list".to_owned(), serde_json::json!([1]))
        );
        for (bad, why) in [
            ("content", "must be KEY=VALUE (a string) or KEY:=JSON"),
            ("=x", "has no key"),
            ("n:=nope", "is not valid JSON"),
        ] {
            let error = parse_field(bad).map(|_| ()).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
