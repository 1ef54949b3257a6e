//! Uploads: refused before sending when too large or not a JPEG; streamed as field `media`
//! from bytes, a path (reopened for each attempt) or an async reader.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::post;
use std::collections::HashMap;
use wx_kefu_runtime::meta::EndpointMeta;
use wx_kefu_runtime::validate::Rule;
use wx_kefu_runtime::{
    Ack, Body, Endpoint, Error, FileKind, FileLimits, Invalid, Method, MultipartFile, RequestParts,
    Upload,
};

use crate::common::*;

const MAX: u64 = 5 * 1024 * 1024;

fn parts(file: &Upload) -> RequestParts {
    RequestParts {
        query: vec![("kf_account", "test1@test".to_owned())],
        body: Body::Multipart(MultipartFile {
            field: "media",
            file: file.clone(),
            limits: FileLimits::new(MAX, &[FileKind::Jpeg], "JPEG"),
            text: Vec::new(),
        }),
    }
}

/// A non-idempotent avatar upload.
struct Avatar(Upload);

impl Endpoint for Avatar {
    const META: &'static EndpointMeta = meta!("test_upload", Post, "/test/upload", false);
    type Response = Ack;
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        parts(&self.0)
    }
}

/// The same upload marked idempotent, to see a retry send the file again.
struct RetryableAvatar(Upload);

impl Endpoint for RetryableAvatar {
    const META: &'static EndpointMeta = meta!("test_upload_again", Post, "/test/upload", true);
    type Response = Ack;
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
    fn parts(&self) -> RequestParts {
        parts(&self.0)
    }
}

/// One received part: field name, file name, content type, bytes.
type Part = (String, Option<String>, Option<String>, Vec<u8>);

#[derive(Default)]
struct Received(Mutex<Vec<Part>>);

async fn upload(
    State((mock, received)): State<(Arc<Mock>, Arc<Received>)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    mut multipart: Multipart,
) -> Response {
    if let Some(reply) = mock.enter("upload", &query) {
        return render(Some(reply), "upload", &uri).await;
    }
    assert_eq!(
        query.get("kf_account").map(String::as_str),
        Some("test1@test")
    );
    while let Some(field) = multipart.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.unwrap().to_vec();
        received
            .0
            .lock()
            .unwrap()
            .push((name, filename, content_type, bytes));
    }
    render(None, "upload", &uri).await
}

async fn start_upload() -> (Arc<Mock>, Arc<Received>, wx_kefu_runtime::Client) {
    let mock = Mock::new();
    let received = Arc::new(Received::default());
    let routes = Router::new()
        .route("/test/upload", post(upload))
        .with_state((mock.clone(), received.clone()));
    let base = serve(router(&mock).merge(routes)).await;
    let client = builder(&base).build().unwrap();
    (mock, received, client)
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    bytes
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wx-kefu-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn refused(error: Error) -> Rule {
    match checked(error) {
        Error::Invalid {
            endpoint: "test_upload",
            source,
        } if source.field == "media" => source.rule,
        other => panic!("expected an upload refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_over_5_mb_is_refused_before_sending() {
    let (mock, _, client) = start_upload().await;
    let six_mb = jpeg(6 * 1024 * 1024);
    let error = client
        .call(Avatar(Upload::bytes(six_mb.clone(), "big.jpg")))
        .await
        .unwrap_err();
    assert_eq!(
        refused(error),
        Rule::FileTooLarge {
            max: MAX,
            actual: 6 * 1024 * 1024
        }
    );
    let path = temp_file("big.jpg", &six_mb);
    let error = client.call(Avatar(Upload::path(&path))).await.unwrap_err();
    assert_eq!(
        refused(error),
        Rule::FileTooLarge {
            max: MAX,
            actual: 6 * 1024 * 1024
        }
    );
    std::fs::remove_file(path).unwrap();
    assert_eq!(mock.all_hits(), 0, "no request, not even for a token");
}

#[tokio::test]
async fn a_file_that_is_not_a_jpeg_is_refused_before_sending() {
    let (mock, _, client) = start_upload().await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let error = client
        .call(Avatar(Upload::bytes(png.clone(), "avatar.jpg")))
        .await
        .unwrap_err();
    assert_eq!(refused(error), Rule::FileType { expected: "JPEG" });
    let path = temp_file("avatar-png.jpg", &png);
    let error = client.call(Avatar(Upload::path(&path))).await.unwrap_err();
    assert_eq!(refused(error), Rule::FileType { expected: "JPEG" });
    std::fs::remove_file(path).unwrap();
    let error = client
        .call(Avatar(Upload::bytes(Vec::new(), "empty.jpg")))
        .await
        .unwrap_err();
    assert_eq!(refused(error), Rule::FileEmpty);
    assert_eq!(mock.all_hits(), 0);
}

#[tokio::test]
async fn a_missing_file_is_an_upload_error() {
    let (mock, _, client) = start_upload().await;
    let missing = std::env::temp_dir().join("wx-kefu-runtime-no-such-file.jpg");
    let error = err(client.call(Avatar(Upload::path(&missing))).await);
    assert!(matches!(&error, Error::Upload { .. }), "{error:?}");
    assert!(error.to_string().contains("no-such-file.jpg"));
    assert_eq!(mock.all_hits(), 0);
}

#[tokio::test]
async fn a_jpeg_is_sent_as_field_media_from_bytes_a_path_or_a_reader() {
    let (mock, received, client) = start_upload().await;
    let bytes = jpeg(300 * 1024);
    client
        .call(Avatar(Upload::bytes(bytes.clone(), "a.jpg")))
        .await
        .unwrap();
    let path = temp_file("b.jpeg", &bytes);
    client.call(Avatar(Upload::path(&path))).await.unwrap();
    std::fs::remove_file(path).unwrap();
    let reader = Upload::reader(&bytes[..], "c.jpg", MAX)
        .await
        .unwrap()
        .content_type("image/jpeg");
    client.call(Avatar(reader)).await.unwrap();
    assert_eq!(mock.hits("upload"), 3);
    let received = received.0.lock().unwrap();
    let names: Vec<_> = received
        .iter()
        .map(|(field, name, kind, _)| (field.as_str(), name.as_deref(), kind.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("media", Some("a.jpg"), Some("image/jpeg")),
            ("media", Some("b.jpeg"), Some("image/jpeg")),
            ("media", Some("c.jpg"), Some("image/jpeg")),
        ]
    );
    assert!(received.iter().all(|(.., data)| *data == bytes));
}

#[tokio::test]
async fn a_file_is_read_again_for_each_attempt() {
    let (mock, received, client) = start_upload().await;
    mock.script("upload", [Reply::Raw(503, "busy")]);
    let bytes = jpeg(100 * 1024);
    let path = temp_file("retry.jpg", &bytes);
    client
        .call(RetryableAvatar(Upload::path(&path)))
        .await
        .unwrap();
    std::fs::remove_file(path).unwrap();
    assert_eq!(mock.hits("upload"), 2);
    assert_eq!(received.0.lock().unwrap()[0].3, bytes);
}
