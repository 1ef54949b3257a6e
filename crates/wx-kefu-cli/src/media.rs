//! Media on the command line: files attached to a message (`message send image OPENID
//! --file ./a.png` uploads, then sends), and downloads saved to a file (`media get ID -o
//! FILE`).

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use serde_json::{Value, json};
use wx_kefu_api::meta::EndpointMeta;
use wx_kefu_api::{Client, Download};

use crate::cli::{MEDIA_FILE, OUTPUT, THUMB_FILE};
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
        files.push((*kind, "media_id", path.clone()));
    }
    if let Some(path) = matches.try_get_one::<PathBuf>(THUMB_FILE).ok().flatten() {
        if !WITH_THUMB.contains(&kind) {
            return Err(CliError::usage(format!(
                "--thumb attaches the thumbnail of a video, music or miniprogrampage message, not of `{kind}`"
            )));
        }
        files.push(("thumb", "thumb_media_id", path.clone()));
    }
    Ok(files)
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
/// it, in the current directory); a JSON answer instead of a file is printed.
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
    match wx_kefu_api::download_json(client, meta.name, request).await? {
        Download::File(file) => {
            let path = match output {
                Some(path) => path,
                None => PathBuf::from(local_name(file.filename())),
            };
            let content_type = file.content_type().to_owned();
            let bytes = file.save(&path).await?;
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

/// A local file name from WeChat's: its last component, never a path elsewhere.
fn local_name(sent: Option<&str>) -> String {
    let name = sent
        .and_then(|name| Path::new(name).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !name.contains(['/', '\\']));
    name.unwrap_or_else(|| "media.bin".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_file_name_never_leaves_the_current_directory() {
        assert_eq!(local_name(Some("MEDIA.jpg")), "MEDIA.jpg");
        assert_eq!(local_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(local_name(Some("/tmp/x.amr")), "x.amr");
        assert_eq!(local_name(Some("..")), "media.bin");
        assert_eq!(local_name(Some(".bashrc")), "media.bin");
        assert_eq!(local_name(None), "media.bin");
    }
}
