//! Media end to end against the emulator: uploads of the four kinds, every message type
//! that names a media sent with the returned ids, a user's pushed picture downloaded byte
//! for byte through the SDK's webhook, the limits refused before the network, 40007 for
//! ids the account does not hold, and permanent materials.

use wx_kefu_tests as common;

use std::time::Duration;

use common::{Env, account_server, amr, jpeg, mp4, png, upload_media};
use wx_kefu_api::inbound::{Push, Reply, UserMessage};
use wx_kefu_api::validate::Rule;
use wx_kefu_api::*;
use wx_kefu_mock::WebhookConfig;

const UPLOAD: &str = "/cgi-bin/media/upload";
const GET: &str = "/cgi-bin/media/get";
const ADD_MATERIAL: &str = "/cgi-bin/material/add_material";
const USER: &str = "o_media_user";
const ALICE: &str = "alice@gh_media";

/// The file of a download, read whole.
async fn file_bytes<J: std::fmt::Debug>(download: Download<J>) -> (MediaFile, Vec<u8>) {
    let Download::File(file) = download else {
        panic!("expected a file, got {download:?}");
    };
    let shown = format!("{file:?}");
    assert!(!shown.contains("access_token"), "{shown}");
    let mut copy = Vec::new();
    let mut reader = file;
    while let Some(chunk) = reader.chunk().await.unwrap() {
        copy.extend_from_slice(&chunk);
    }
    (reader, copy)
}

#[tokio::test]
async fn upload_each_kind_then_send_every_message_that_names_media() {
    let env = Env::start().await;
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message(USER, "hi");
    let media = upload_media(&env.client).await;
    // One upload each. The emulator answers a thumbnail's id as `thumb_media_id`, as
    // WeChat does, so `media.thumb` is there only because the SDK reads that name too.
    assert_eq!(env.mock.requests_to(UPLOAD).len(), 4);
    for id in [&media.image, &media.voice, &media.video, &media.thumb] {
        assert_eq!(id.len(), 64, "{id}");
    }
    let messages: Vec<Message> = vec![
        Image::new(&media.image).into(),
        Voice::new(&media.voice).into(),
        Video::new(&media.video, &media.thumb).title("演示").into(),
        Music::new("https://e.com/a.mp3", "https://e.com/b.mp3", &media.thumb).into(),
        MiniProgramPage::new("小程序", "wxMINI", "pages/index", &media.thumb).into(),
    ];
    for message in messages {
        env.client
            .send_custom_message(SendCustomMessage::new(USER, message))
            .await
            .unwrap();
    }
    let sent: Vec<String> = env.mock.records()[1..]
        .iter()
        .map(|r| r.text.clone())
        .collect();
    assert_eq!(
        sent,
        [
            "[image]",
            "[voice]",
            "[video]",
            "[music]",
            "[miniprogrampage]"
        ]
    );
    // What was uploaded comes back byte for byte.
    let (file, bytes) = file_bytes(env.client.get_temp_media(&media.image).await.unwrap()).await;
    assert_eq!(bytes, png(4096));
    assert_eq!(file.content_type(), "image/png");
    assert!(
        file.filename().is_some_and(|n| n.ends_with(".png")),
        "{file:?}"
    );
    // A video is answered with its address, not the file.
    let video = env.client.get_temp_media(&media.video).await.unwrap();
    let Download::Json(TempVideo { video_url, .. }) = video else {
        panic!("{video:?}");
    };
    assert!(video_url.starts_with("http://"), "{video_url}");
    env.finish().await;
}

#[tokio::test]
async fn a_users_pushed_picture_and_recording_download_byte_for_byte() {
    let env = Env::start().await;
    let (url, seen) = account_server(&env, "media-token", |_| Reply::success()).await;
    env.mock
        .set_webhook(WebhookConfig::plain(&url, "media-token"));
    let picture = jpeg(300_000);
    let recording = amr(12_345);
    env.mock.push_image(USER, picture.clone()).await.unwrap();
    env.mock.push_voice(USER, recording.clone()).await.unwrap();
    let pushed: Vec<Push> = seen.lock().unwrap().clone();
    assert_eq!(pushed.len(), 2);
    let ids: Vec<String> = pushed
        .iter()
        .map(|push| {
            push.message()
                .and_then(UserMessage::media_id)
                .unwrap_or_else(|| panic!("no MediaId in {push:?}"))
                .to_owned()
        })
        .collect();
    let Some(UserMessage::Image(image)) = pushed[0].message() else {
        panic!("{:?}", pushed[0]);
    };
    assert!(image.pic_url.starts_with("http://"));

    let (file, bytes) = file_bytes(env.client.get_temp_media(&ids[0]).await.unwrap()).await;
    assert_eq!(bytes.len(), picture.len());
    assert!(bytes == picture, "the picture differs");
    assert_eq!(file.content_type(), "image/jpeg");
    assert_eq!(file.len(), Some(picture.len() as u64));

    // Saved to a file, streamed.
    let dir = std::env::temp_dir().join(format!("wx-kefu-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("voice.amr");
    let Download::File(voice) = env.client.get_temp_media(&ids[1]).await.unwrap() else {
        panic!("a recording is a file");
    };
    assert_eq!(voice.content_type(), "audio/amr");
    assert_eq!(voice.save(&path).await.unwrap(), recording.len() as u64);
    assert_eq!(std::fs::read(&path).unwrap(), recording);
    std::fs::remove_dir_all(&dir).unwrap();

    // Three days later WeChat has forgotten it.
    env.mock.advance(Duration::from_secs(3 * 86_400));
    let gone = env.client.get_temp_media(&ids[0]).await;
    env.api_err(gone, ErrCode::InvalidMediaId);
    env.finish().await;
}

#[tokio::test]
async fn every_limit_is_refused_before_the_network() {
    let env = Env::start().await;
    let refused = |result: Result<TempMedia>| match result {
        Err(Error::Invalid { source, .. }) => {
            assert_eq!(source.field, "media");
            source.rule
        }
        other => panic!("expected a local refusal, got {other:?}"),
    };
    let cases: [(MediaType, Vec<u8>, Rule); 8] = [
        (
            MediaType::Image,
            png(10 * 1024 * 1024 + 1),
            Rule::FileTooLarge {
                max: 10 * 1024 * 1024,
                actual: 10 * 1024 * 1024 + 1,
            },
        ),
        (
            MediaType::Image,
            amr(100),
            Rule::FileType {
                expected: "JPEG, PNG or GIF",
            },
        ),
        (
            MediaType::Voice,
            amr(2 * 1024 * 1024 + 1),
            Rule::FileTooLarge {
                max: 2 * 1024 * 1024,
                actual: 2 * 1024 * 1024 + 1,
            },
        ),
        (
            MediaType::Voice,
            mp4(100),
            Rule::FileType {
                expected: "AMR or MP3",
            },
        ),
        (
            MediaType::Video,
            mp4(10 * 1024 * 1024 + 1),
            Rule::FileTooLarge {
                max: 10 * 1024 * 1024,
                actual: 10 * 1024 * 1024 + 1,
            },
        ),
        (
            MediaType::Video,
            jpeg(100),
            Rule::FileType { expected: "MP4" },
        ),
        (
            MediaType::Thumb,
            jpeg(64 * 1024 + 1),
            Rule::FileTooLarge {
                max: 64 * 1024,
                actual: 64 * 1024 + 1,
            },
        ),
        (
            MediaType::Thumb,
            png(100),
            Rule::FileType { expected: "JPEG" },
        ),
    ];
    for (kind, data, rule) in cases {
        let result = env
            .client
            .upload_temp_media(kind, Upload::bytes(data, "file"))
            .await;
        assert_eq!(refused(result), rule, "{kind:?}");
    }
    // The permanent library's own list: a BMP image is a material, not a temporary media.
    let bmp = {
        let mut bytes = b"BM".to_vec();
        bytes.resize(512, 0);
        bytes
    };
    let result = env
        .client
        .upload_temp_media(MediaType::Image, Upload::bytes(bmp.clone(), "a.bmp"))
        .await;
    assert!(matches!(refused(result), Rule::FileType { .. }));
    assert!(env.mock.requests_to(UPLOAD).is_empty(), "nothing was sent");
    assert!(env.mock.requests().is_empty(), "not even a token fetch");
    let material = env
        .client
        .add_material(AddMaterial::new(
            MediaType::Image,
            Upload::bytes(bmp, "a.bmp"),
        ))
        .await
        .unwrap();
    assert!(material.url.is_some());
    env.finish().await;
}

#[tokio::test]
async fn a_media_id_the_account_does_not_hold_is_40007_end_to_end() {
    let env = Env::start().await;
    env.mock.add_online_agent(ALICE, "Alice").unwrap();
    env.mock.user_message(USER, "hi");
    let unknown = "MEDIA_ID_NOBODY_UPLOADED";
    let sent = env
        .client
        .send_custom_message(SendCustomMessage::new(USER, Image::new(unknown)))
        .await;
    env.api_err(sent, ErrCode::InvalidMediaId);
    let sent = env
        .client
        .send_custom_message(SendCustomMessage::new(
            USER,
            MiniProgramPage::new("t", "wxMINI", "pages/index", unknown),
        ))
        .await;
    env.api_err(sent, ErrCode::InvalidMediaId);
    env.api_err(
        env.client.get_temp_media(unknown).await,
        ErrCode::InvalidMediaId,
    );
    // An expired upload is as unknown.
    let image = env
        .client
        .upload_temp_media(MediaType::Image, Upload::bytes(png(100), "a.png"))
        .await
        .unwrap();
    env.mock.advance(Duration::from_secs(3 * 86_400 + 1));
    env.mock.user_message(USER, "still there?");
    let sent = env
        .client
        .send_custom_message(SendCustomMessage::new(USER, Image::new(image.media_id)))
        .await;
    env.api_err(sent, ErrCode::InvalidMediaId);
    // Nothing was recorded as sent.
    assert_eq!(env.mock.records().len(), 2);
    env.finish().await;
}

#[tokio::test]
async fn permanent_materials_are_added_read_counted_and_deleted() {
    let env = Env::start().await;
    let image = env
        .client
        .add_material(AddMaterial::new(
            MediaType::Image,
            Upload::bytes(png(2048), "welcome.png"),
        ))
        .await
        .unwrap();
    assert!(image.url.as_deref().is_some_and(|u| u.starts_with("http")));
    let video = env
        .client
        .add_material(
            AddMaterial::new(MediaType::Video, Upload::bytes(mp4(4096), "demo.mp4")).description(
                VideoDescription::new()
                    .title("产品演示")
                    .introduction("三分钟看懂"),
            ),
        )
        .await
        .unwrap();
    assert_eq!(video.url, None);
    // A video without its description is refused before anything is sent.
    let before = env.mock.requests_to(ADD_MATERIAL).len();
    let refused = env
        .client
        .add_material(AddMaterial::new(
            MediaType::Video,
            Upload::bytes(mp4(4096), "demo.mp4"),
        ))
        .await;
    match refused {
        Err(Error::Invalid { source, .. }) => {
            assert_eq!(
                (source.field.as_str(), source.rule),
                ("description", Rule::Required)
            )
        }
        other => panic!("expected a local refusal, got {other:?}"),
    }
    assert_eq!(env.mock.requests_to(ADD_MATERIAL).len(), before);
    // The description travelled as a JSON form field beside the file.
    let logged = env.mock.requests_to(ADD_MATERIAL);
    assert!(logged[1].body.contains("description"), "{}", logged[1].body);

    let count = env.client.get_material_count().await.unwrap();
    assert_eq!(
        (count.image_count, count.video_count, count.voice_count),
        (1, 1, 0)
    );

    let (_, bytes) = file_bytes(env.client.get_material(&image.media_id).await.unwrap()).await;
    assert_eq!(bytes, png(2048));
    let answer = env.client.get_material(&video.media_id).await.unwrap();
    let Some(described) = answer.json() else {
        panic!("{answer:?}");
    };
    assert_eq!(described.title, "产品演示");
    assert_eq!(described.description, "三分钟看懂");

    // A permanent id is not a temporary one, and the other way round.
    env.api_err(
        env.client.get_temp_media(&image.media_id).await,
        ErrCode::InvalidMediaId,
    );
    env.client.del_material(&image.media_id).await.unwrap();
    env.api_err(
        env.client.get_material(&image.media_id).await,
        ErrCode::InvalidMediaId,
    );
    env.api_err(
        env.client.del_material(&image.media_id).await,
        ErrCode::InvalidMediaId,
    );
    assert_eq!(
        env.client.get_material_count().await.unwrap().image_count,
        0
    );
    env.finish().await;
}

#[tokio::test]
async fn a_download_keeps_the_guarantees_of_a_call() {
    use wx_kefu_mock::Fault;
    let env = Env::start().await;
    let image = env
        .client
        .upload_temp_media(MediaType::Image, Upload::bytes(jpeg(5000), "a.jpg"))
        .await
        .unwrap();
    // A rejected token is replaced and the download replayed once.
    env.mock.invalidate_tokens();
    let (_, bytes) = file_bytes(env.client.get_temp_media(&image.media_id).await.unwrap()).await;
    assert_eq!(bytes, jpeg(5000));
    // A read is retried after a 503 and a dropped connection.
    env.mock.inject(Fault::status(503).on_path(GET));
    env.mock.inject(Fault::drop_connection().on_path(GET));
    let (_, bytes) = file_bytes(env.client.get_temp_media(&image.media_id).await.unwrap()).await;
    assert_eq!(bytes, jpeg(5000));
    // An HTML page where a file or JSON should be is a typed error, not a file.
    env.mock
        .inject(Fault::status_with_body(200, "<html>502 Bad Gateway</html>").on_path(GET));
    let error = env.err(env.client.get_temp_media(&image.media_id).await);
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    // An upload is not retried once it may have arrived.
    env.mock
        .inject(Fault::drop_connection().on_path(UPLOAD).after_handling());
    let error = env.err(
        env.client
            .upload_temp_media(MediaType::Image, Upload::bytes(jpeg(100), "a.jpg"))
            .await,
    );
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(env.mock.requests_to(UPLOAD).len(), 2);
    env.finish().await;
}
