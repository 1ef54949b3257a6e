//! Media on the command line: files attached to a message (`message send image OPENID
//! --file ./a.png` uploads, then sends), and downloads saved to a file (`media get ID -o
//! FILE`).

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use serde_json::{Value, json};
use wx_kefu_api::meta::{EndpointMeta, FieldType};
use wx_kefu_api::{Client, Download};

use crate::args::{FORCE, MEDIA_FILE, OUTPUT, THUMB_FILE};
use crate::error::{CliError, CliResult};
use crate::output::Printer;

/// The message kinds whose `media_id` `--file` fills, and whose `thumb_media_id` `--thumb`
/// fills.
const WITH_MEDIA: &[&str] = &["image", "voice", "video"];
const WITH_THUMB: &[&str] = &["video", "music", "miniprogrampage"];

/// The files `--file` and `--thumb` name, checked against the message kind before
/// anything is sent.
pub fn attachments(
    matches: &ArgMatches,
    request: &Value,
) -> CliResult<Vec<(&'static str, &'static str, PathBuf)>> {
    let kind = request.get("msgtype").and_then(Value::as_str).unwrap_or("");
    let mut files = Vec::new();
    if let Some(path) = matches.try_get_one::<PathBuf>(MEDIA_FILE).ok().flatten() {
        let Some(kind) = WITH_MEDIA.iter().find(|k| **k == kind) else {
            return Err(CliError::usage(format!(
                "--file attaches the media of an image, voice or video message, not of `{kind}`"
            )));
        };
        check_attachment(path)?;
        files.push((*kind, "media_id", path.clone()));
    }
    if let Some(path) = matches.try_get_one::<PathBuf>(THUMB_FILE).ok().flatten() {
        if !WITH_THUMB.contains(&kind) {
            return Err(CliError::usage(format!(
                "--thumb attaches the thumbnail of a video, music or miniprogrampage message, not of `{kind}`"
            )));
        }
        check_attachment(path)?;
        files.push(("thumb", "thumb_media_id", path.clone()));
    }
    Ok(files)
}

/// An attachment is checked as the upload's own `media` argument is: a regular file
/// (a FIFO or a device would hold the command past its timeout) within the spec's size.
fn check_attachment(path: &Path) -> CliResult {
    let field = wx_kefu_api::ENDPOINTS
        .iter()
        .find(|meta| meta.name == "upload_temp_media")
        .and_then(|meta| meta.field("media"))
        .ok_or_else(|| CliError::local("the spec has no upload_temp_media.media"))?;
    crate::request::check_file(field, path)
}

/// The most bytes a download of `meta` may have: the largest file the spec lets its
/// group upload (10 MB for media), since WeChat gives back what was uploaded.
fn download_limit(meta: &EndpointMeta) -> Option<u64> {
    wx_kefu_api::ENDPOINTS
        .iter()
        .filter(|other| other.group == meta.group)
        .flat_map(|other| other.fields)
        .filter(|field| matches!(field.ty, FieldType::File))
        .filter_map(|field| field.rules.max_bytes)
        .max()
}

/// Uploads each attachment as a temporary media and puts its id into the message.
pub async fn attach(
    client: &Client,
    request: &mut Value,
    files: Vec<(&'static str, &'static str, PathBuf)>,
) -> CliResult {
    let Some(kind) = request
        .get("msgtype")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(());
    };
    for (media_type, key, path) in files {
        let upload = json!({ "type": media_type, "media": path.to_string_lossy() });
        let answer = wx_kefu_api::call_json(client, "upload_temp_media", upload).await?;
        let id = answer
            .get("media_id")
            .cloned()
            .ok_or_else(|| CliError::local("the upload answered no media_id"))?;
        request[&kind][key] = id;
    }
    Ok(())
}

/// Downloads with `meta` and saves the file (to `--output`, else to the name WeChat gives
/// it, in the current directory); a JSON answer instead of a file is printed. An existing
/// file is never replaced without `--force`, never written through a symbolic link, and
/// a failed download leaves nothing behind ([`MediaFile::save`](wx_kefu_api::MediaFile::save)).
pub async fn download(
    printer: &Printer,
    client: &Client,
    meta: &EndpointMeta,
    request: Value,
    matches: &ArgMatches,
) -> CliResult {
    let output = matches
        .try_get_one::<PathBuf>(OUTPUT)
        .ok()
        .flatten()
        .cloned();
    let force = matches.try_get_one::<bool>(FORCE).ok().flatten() == Some(&true);
    let media_id = request
        .get("media_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match wx_kefu_api::download_json(client, meta.name, request).await? {
        Download::File(mut file) => {
            let path = match output {
                Some(path) => path,
                None => PathBuf::from(local_name(file.filename(), &media_id, file.content_type())),
            };
            if let Some(limit) = download_limit(meta) {
                file = file.max_bytes(limit);
            }
            let content_type = file.content_type().to_owned();
            let saved = match force {
                true => file.save_over(&path).await,
                false => file.save(&path).await,
            };
            let bytes = saved.map_err(|error| match &error {
                wx_kefu_api::Error::Save { source, .. }
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    CliError::from(error)
                        .hint("pass --force to replace it, or -o to choose another name")
                }
                _ => CliError::from(error),
            })?;
            let saved = json!({
                "saved": path.display().to_string(),
                "bytes": bytes,
                "content_type": content_type,
            });
            printer.answer(&saved)
        }
        Download::Json(answer) => printer.answer(&answer),
        other => Err(CliError::local(format!(
            "an answer of an unknown kind: {other:?}"
        ))),
    }
}

/// The longest local name taken from WeChat's, in characters (file systems allow 255
/// bytes; a CJK character takes 3).
const MAX_NAME_CHARS: usize = 80;

/// A local file name from WeChat's: its last component, never a path elsewhere, never a
/// hidden file, cut to [`MAX_NAME_CHARS`] with its extension kept. Without one, the
/// media id with an extension from the content type, so two downloads never share a name.
fn local_name(sent: Option<&str>, media_id: &str, content_type: &str) -> String {
    let name = sent
        .and_then(|name| Path::new(name).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !name.contains(['/', '\\']))
        .filter(|name| !name.chars().any(char::is_control));
    match name {
        Some(name) => shorten(&name),
        None => {
            let id: String = media_id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .take(64)
                .collect();
            let stem = if id.is_empty() {
                "media".to_owned()
            } else {
                id
            };
            format!("{stem}.{}", extension(content_type))
        }
    }
}

/// `name` cut to [`MAX_NAME_CHARS`], its extension (up to 8 characters) kept.
fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        return name.to_owned();
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .filter(|ext| !ext.is_empty() && ext.chars().count() <= 8);
    match extension {
        Some(ext) => {
            let keep = MAX_NAME_CHARS - ext.chars().count() - 1;
            format!("{}.{ext}", name.chars().take(keep).collect::<String>())
        }
        None => name.chars().take(MAX_NAME_CHARS).collect(),
    }
}

/// A file extension for a media content type.
fn extension(content_type: &str) -> &'static str {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/bmp" => "bmp",
        "audio/amr" => "amr",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "video/mp4" | "video/mpeg4" => "mp4",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_file_name_never_leaves_the_current_directory() {
        let name = |sent| local_name(sent, "ID_1", "image/png");
        assert_eq!(name(Some("MEDIA.jpg")), "MEDIA.jpg");
        assert_eq!(name(Some("../../etc/passwd")), "passwd");
        assert_eq!(name(Some("/tmp/x.amr")), "x.amr");
        assert_eq!(name(Some("a;b.jpg")), "a;b.jpg");
        assert_eq!(name(Some("..")), "ID_1.png");
        assert_eq!(name(Some(".bashrc")), "ID_1.png");
        assert_eq!(name(Some("a\nb.jpg")), "ID_1.png");
        assert_eq!(name(None), "ID_1.png");
        assert_eq!(local_name(None, "../x", "audio/amr"), "x.amr");
        assert_eq!(local_name(None, "", "application/x-unknown"), "media.bin");
        let long = format!("{}.jpg", "长".repeat(300));
        let short = name(Some(&long));
        assert_eq!(short.chars().count(), MAX_NAME_CHARS);
        assert!(short.ends_with(".jpg"), "{short}");
    }
}
