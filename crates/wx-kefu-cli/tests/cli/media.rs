//! `wx-kefu media …` and `wx-kefu message send image OPENID --file …`.

use crate::support::{API, Emu, USAGE, jpeg};

const UPLOAD: &str = "/cgi-bin/media/upload";
const SEND: &str = "/cgi-bin/message/custom/send";

#[test]
fn upload_prints_the_id_and_get_saves_the_file() {
    let emu = Emu::start();
    let answer = emu.upload_image("a.jpg", 20_000);
    let picture = emu.path("a.jpg");
    assert_eq!(answer["type"], "image");
    let id = answer["media_id"].as_str().expect("a media id").to_owned();
    assert_eq!(emu.mock.requests_to(UPLOAD).len(), 1);

    let saved = emu.path("copy.jpg");
    let got = emu.run(&["--json", "media", "get", &id, "-o", saved.to_str().unwrap()]);
    let answer = got.ok().json();
    assert_eq!(answer["bytes"], 20_000);
    assert_eq!(answer["content_type"], "image/jpeg");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&picture).unwrap()
    );

    // Unknown ids are WeChat's 40007.
    let unknown = emu.run(&[
        "media",
        "get",
        "NO_SUCH_MEDIA",
        "-o",
        saved.to_str().unwrap(),
    ]);
    unknown.code(API);
    assert!(unknown.stderr.contains("40007"), "{unknown:?}");

    // A file of the wrong kind is refused before anything is sent.
    let refused = emu.run(&["media", "upload", "voice", picture.to_str().unwrap()]);
    refused.code(USAGE);
    assert!(refused.stderr.contains("AMR or MP3"), "{refused:?}");
    assert_eq!(emu.mock.requests_to(UPLOAD).len(), 1);
}

#[test]
fn an_image_is_uploaded_and_sent_in_one_step() {
    let emu = Emu::start();
    emu.mock.user_message("o_user", "截图发我一下");
    let picture = emu.path("screenshot.jpg");
    jpeg(&picture, 4_096);
    let sent = emu.run(&[
        "message",
        "send",
        "image",
        "o_user",
        "--file",
        picture.to_str().unwrap(),
    ]);
    sent.ok();
    let upload = &emu.mock.requests_to(UPLOAD)[0];
    assert!(
        upload
            .query
            .iter()
            .any(|(k, v)| k == "type" && v == "image")
    );
    let body = emu.mock.requests_to(SEND)[0].json().expect("a JSON body");
    assert_eq!(body["msgtype"], "image");
    assert_eq!(body["image"]["media_id"].as_str().map(str::len), Some(64));

    // --file names the media of an image, voice or video message only.
    let wrong = emu.run(&[
        "message",
        "send",
        "text",
        "o_user",
        "-f",
        "content=x",
        "--file",
        picture.to_str().unwrap(),
    ]);
    wrong.code(USAGE);
    assert_eq!(
        emu.mock.requests_to(UPLOAD).len(),
        1,
        "nothing more was sent"
    );
}
