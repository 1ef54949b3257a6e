//! The ids and option names of the command line's arguments: the command tree (`cli`) sets
//! them, the readers of a command's arguments (`request`, `media`, `fallback`) read them.

use wx_kefu_api::meta::FieldMeta;

/// The argument id of a field (prefixed so that no field can clash with a global option).
pub fn field_id(wire: &str) -> String {
    format!("field:{wire}")
}

/// The id of `--field` values.
pub const PAYLOAD_FIELDS: &str = "payload-fields";
/// The id of `--payload`.
pub const PAYLOAD_JSON: &str = "payload-json";
/// The id of `--output`, of a download.
pub const OUTPUT: &str = "output";
/// A download's `--force`: replace an existing file.
pub const FORCE: &str = "force";
/// `message send`'s fallback when the window has closed: `--fallback-template`,
/// `--fallback-data`, `--fallback-url`, `--idempotency-key`.
pub const FALLBACK_TEMPLATE: &str = "fallback-template";
pub const FALLBACK_DATA: &str = "fallback-data";
pub const FALLBACK_URL: &str = "fallback-url";
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The id of `--file` and `--thumb`: files uploaded as temporary media for a message.
pub const MEDIA_FILE: &str = "media-file";
pub const THUMB_FILE: &str = "thumb-file";

/// Option names a field may not take, because every command has them.
const TAKEN_LONGS: &[&str] = &[
    "appid",
    "secret",
    "access-token",
    "base-url",
    "config",
    "json",
    "tz",
    "timeout",
    "help",
    "version",
    "field",
    "payload",
    "output",
    "file",
    "thumb",
];

/// The long option of a non-positional field.
pub fn field_long(field: &FieldMeta) -> String {
    let long = kebab(field.wire);
    match TAKEN_LONGS.contains(&long.as_str()) {
        true => format!("field-{long}"),
        false => long,
    }
}

/// A spec name as a command-line word: `get_kf_list` → `get-kf-list`.
pub fn kebab(name: &str) -> String {
    name.replace('_', "-")
}
