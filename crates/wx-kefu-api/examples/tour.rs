//! The tour: the whole customer-service workflow, end to end, on the embedded emulator.
//!
//! ```sh
//! cargo run --example tour
//! ```
//!
//! It starts the emulator on 127.0.0.1, then walks through what a 服务号's customer service
//! does: a token, an agent account (invite, accept, avatar), the agent lists, a user writing in,
//! a session, media uploaded and every message type sent with them, typing, closing, the record export, the waiting queue, and
//! deleting the agent. Then the other direction: the account's server (the SDK's webhook, in
//! safe mode, on 127.0.0.1) receives a user's picture and downloads it, then a message, hands it to the agents
//! with `transfer_customer_service`, and hears `kf_create_session` and `kf_close_session` as an
//! agent takes and ends the session. Each step prints one line; the first failure ends the tour
//! non-zero.
//!
//! The emulator serves its web view meanwhile: the tour prints its address, and with
//! `cargo run --example tour -- --wait` the emulator keeps running at the end, to look
//! around in the page (and play a user there).
//!
//! With `WX_APPID` and `WX_SECRET` set it targets the real API instead, and only reads
//! (token, agent lists, waiting queue, the last day's records). Add `--write` with
//! `WX_KEFU_OPENID` set to also send one text message to that user.

use std::error::Error as StdError;
use std::fmt::Display;
use std::process::ExitCode;

use futures_util::StreamExt;
use wx_kefu_api::*;
use wx_kefu_inbound::{Event, Push, Reply, UserMessage, Webhook};
use wx_kefu_mock::{MockServer, PushOutcome, UserEvent, WebhookConfig};

/// Prints one step of the transcript, or the error that ended the tour.
fn step<T>(
    name: &str,
    result: Result<T, Error>,
    detail: impl FnOnce(&T) -> String,
) -> Result<T, Error> {
    match &result {
        Ok(value) => println!("  ok   {name:<38} {}", detail(value)),
        Err(error) => println!("  FAIL {name:<38} {error}"),
    }
    result
}

fn count<T>(items: &[T], what: impl Display) -> String {
    format!("{} {what}", items.len())
}

/// A minimal JPEG: the magic bytes WeChat checks, then filler.
fn avatar() -> Vec<u8> {
    let mut jpeg = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    jpeg.resize(2048, 0);
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// A minimal PNG: the signature and an IHDR chunk's start, then filler.
fn screenshot() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.resize(6144, 0);
    png
}

/// A minimal AMR recording and MP4 video: the headers WeChat checks, then filler.
fn recording() -> Vec<u8> {
    let mut amr = b"#!AMR\n".to_vec();
    amr.resize(3072, 0x7C);
    amr
}

fn video() -> Vec<u8> {
    let mut mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    mp4.resize(8192, 0);
    mp4
}

/// The media the messages name, uploaded as temporary media (kept 3 days).
struct Media {
    image: String,
    voice: String,
    video: String,
    thumb: String,
}

async fn upload_media(client: &Client) -> Result<Media, Error> {
    let mut ids = Vec::new();
    for (kind, data, name) in [
        (MediaType::Image, screenshot(), "screenshot.png"),
        (MediaType::Voice, recording(), "hello.amr"),
        (MediaType::Video, video(), "howto.mp4"),
        (MediaType::Thumb, avatar(), "thumb.jpg"),
    ] {
        let size = data.len();
        let uploaded = step(
            &format!("upload_temp_media ({})", kind.as_str()),
            client
                .upload_temp_media(kind, Upload::bytes(data, name))
                .await,
            |m| {
                format!(
                    "{size} bytes → {}…",
                    &m.media_id[..12.min(m.media_id.len())]
                )
            },
        )?;
        ids.push(uploaded.media_id);
    }
    let [image, voice, video, thumb] = <[String; 4]>::try_from(ids).map_err(|_| Error::Config {
        message: "four uploads, four ids".into(),
    })?;
    Ok(Media {
        image,
        voice,
        video,
        thumb,
    })
}

/// Every message type the API can send, with sample content and the uploaded media.
fn every_message(media: &Media) -> Vec<Message> {
    vec![
        Text::new("您好，客服 Alice 为您服务。").into(),
        Image::new(&media.image).into(),
        Voice::new(&media.voice).into(),
        Video::new(&media.video, &media.thumb)
            .title("使用说明")
            .into(),
        Music::new(
            "https://example.com/a.mp3",
            "https://example.com/a-hq.mp3",
            &media.thumb,
        )
        .into(),
        News::new(vec![
            Article::new()
                .title("新品上市")
                .description("点击查看")
                .url("https://example.com")
                .picurl("https://example.com/a.jpg"),
        ])
        .into(),
        MpNews::new("MEDIA_ID_MPNEWS").into(),
        MpNewsArticle::new("ARTICLE_ID").into(),
        MsgMenu::new(vec![
            MenuItem::new("101", "满意"),
            MenuItem::new("102", "不满意"),
        ])
        .head_content("您对本次服务是否满意？")
        .into(),
        WxCard::new("CARD_ID").into(),
        MiniProgramPage::new("订单详情", "wxMINIAPP", "pages/order/detail", &media.thumb).into(),
    ]
}

/// Whatever ends the tour: an SDK error, or the emulator refusing a handle call.
type TourResult = Result<(), Box<dyn StdError>>;

async fn emulated(wait: bool) -> TourResult {
    let mock = MockServer::builder().web_view(true).start().await?;
    println!("emulator at {} (appid {})", mock.base_url(), mock.appid());
    println!(
        "watch it live at {}/_mock/ (add --wait to keep it running after the tour)",
        mock.base_url()
    );
    let client = Client::builder()
        .app_id(mock.appid())
        .app_secret(mock.secret())
        .base_url(mock.base_url())
        .build()?;
    let agent = "alice@gh_tour";
    let user = "o_tour_user_1";

    step("access token", client.access_token().await, |_| {
        "fetched and cached (never printed)".into()
    })?;
    step(
        "add_kf_account",
        client.add_kf_account(agent, "Alice").await,
        |_| agent.into(),
    )?;
    step(
        "invite_kf_worker",
        client.invite_kf_worker(agent, "alice_wx").await,
        |_| "invitation sent".into(),
    )?;
    mock.accept_invitation(agent)
        .map_err(|e| format!("emulator: {e}"))?;
    println!("  ..   the invited user accepts in WeChat");
    step(
        "upload_kf_head_img",
        client
            .upload_kf_head_img(agent, Upload::bytes(avatar(), "alice.jpg"))
            .await,
        |_| "2 KB JPEG".into(),
    )?;
    step("get_kf_list", client.get_kf_list().await, |r| {
        count(&r.kf_list, "agent(s)")
    })?;
    mock.set_online(agent, true)
        .map_err(|e| format!("emulator: {e}"))?;
    println!("  ..   Alice opens the web console");
    step(
        "get_online_kf_list",
        client.get_online_kf_list().await,
        |r| count(&r.kf_online_list, "online"),
    )?;

    mock.user_message(user, "你好，我的订单还没到");
    println!("  ..   {user} writes: 你好，我的订单还没到");
    step(
        "create_kf_session",
        client.create_kf_session(agent, user).await,
        |_| format!("{agent} ↔ {user}"),
    )?;
    step("get_kf_session", client.get_kf_session(user).await, |r| {
        format!("served by {}", r.kf_account.as_deref().unwrap_or("nobody"))
    })?;
    step(
        "get_kf_session_list",
        client.get_kf_session_list(agent).await,
        |r| count(&r.sessionlist, "session(s)"),
    )?;

    mock.user_message(user, "在吗？");
    step(
        "typing",
        client.typing(user, TypingCommand::Typing).await,
        |_| "“typing…” shown".into(),
    )?;
    // A payment opens an unlimited 48-hour window, so all eleven types fit in it.
    mock.user_event(user, UserEvent::Payment);
    let media = upload_media(&client).await?;
    for message in every_message(&media) {
        let kind = message.tag();
        let request =
            SendCustomMessage::new(user, message).customservice(CustomService::new(agent));
        step(
            &format!("send_custom_message ({kind})"),
            client.send_custom_message(request).await,
            |_| "sent as Alice".into(),
        )?;
    }
    let ai = SendCustomMessage::new(user, Text::new("（AI 生成）预计明天送达。"))
        .aimsgcontext(AiMsgContext::new(1));
    step(
        "send_custom_message (AI tagged)",
        client.send_custom_message(ai).await,
        |_| "is_ai_msg = 1".into(),
    )?;
    step(
        "close_session",
        client.close_session(agent, user).await,
        |_| "closed".into(),
    )?;

    let now = mock.now();
    let mut records = std::pin::pin!(export_records(&client, now - 3 * 86_400, now));
    let mut exported = 0;
    while let Some(record) = records.next().await {
        let record = record?;
        exported += 1;
        if exported <= 2 {
            println!(
                "  ..   record {} {:?} {}",
                record.time,
                record.opercode,
                record.text.as_deref().unwrap_or("")
            );
        }
    }
    println!(
        "  ok   {:<38} {exported} record(s) over 3 days (24 h windows, paged)",
        "export_records"
    );

    for waiting in ["o_tour_user_2", "o_tour_user_3", "o_tour_user_4"] {
        mock.enqueue_waiting(waiting)
            .map_err(|e| format!("emulator: {e}"))?;
    }
    step("get_wait_case", client.get_wait_case().await, |r| {
        format!(
            "{} waiting, first {}",
            r.count,
            r.waitcaselist.first().map_or("-", |w| w.openid.as_str())
        )
    })?;
    step("del_kf_account", client.del_kf_account(agent).await, |_| {
        format!("{agent} deleted")
    })?;
    hand_off(&mock, &client).await?;
    println!(
        "emulator saw {} request(s), {} token fetch(es)",
        mock.requests().len(),
        mock.stable_token_fetches()
    );
    if wait {
        println!(
            "tour finished; the emulator keeps running at {}/_mock/ (Ctrl-C stops it)",
            mock.base_url()
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

/// The Token and EncodingAESKey set in the account's server configuration.
const WEBHOOK_TOKEN: &str = "tour-token";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// The account's server logic: anyone asking for a person is handed to the agents; a
/// picture a user sends is downloaded at once (WeChat keeps it 3 days).
async fn on_push(push: Push, client: Client) -> Reply {
    match (push.message(), push.event()) {
        (Some(UserMessage::Image(image)), _) => {
            let saved = match client.get_temp_media(&image.media_id).await {
                Ok(Download::File(file)) => {
                    let kind = file.content_type().to_owned();
                    file.bytes(10 << 20)
                        .await
                        .map(|bytes| format!("{} bytes of {kind}", bytes.len()))
                }
                Ok(other) => Ok(format!("not a file: {other:?}")),
                Err(error) => Err(error),
            };
            match saved {
                Ok(saved) => println!(
                    "  srv  {} sends a picture: downloaded {saved}",
                    push.openid()
                ),
                Err(error) => println!("  FAIL the picture's download: {error}"),
            }
            Reply::success()
        }
        (Some(UserMessage::Text(text)), _) if text.content.contains("人工") => {
            println!(
                "  srv  {} asks for a person: transfer_customer_service",
                push.openid()
            );
            Reply::transfer_customer_service()
        }
        (_, Some(Event::KfCreateSession(session))) => {
            println!(
                "  srv  kf_create_session: {} serves {}",
                session.kf_account,
                push.openid()
            );
            Reply::success()
        }
        (_, Some(Event::KfCloseSession(session))) => {
            println!(
                "  srv  kf_close_session: {} is done with {}",
                session.kf_account,
                push.openid()
            );
            Reply::success()
        }
        _ => Reply::success(),
    }
}

/// The round trip of a hand-off: WeChat pushes, the account's server transfers, an agent serves.
async fn hand_off(mock: &MockServer, client: &Client) -> TourResult {
    let agent = "carol@gh_tour";
    let user = "o_tour_user_5";
    mock.add_online_agent(agent, "Carol")
        .map_err(|e| format!("emulator: {e}"))?;
    // The account's server: verifies, opens and decodes every push, answers retries once.
    let webhook = Webhook::builder()
        .token(WEBHOOK_TOKEN)
        .app_id(mock.appid())
        .encoding_aes_key(ENCODING_AES_KEY)?
        .clock(mock.time_source())
        .build()?;
    let server_client = client.clone();
    let route =
        wx_kefu_inbound::axum::route(webhook, move |push| on_push(push, server_client.clone()));
    let app = axum::Router::new().route("/wechat", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/wechat", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    mock.set_webhook(WebhookConfig::safe(&url, WEBHOOK_TOKEN, ENCODING_AES_KEY)?);
    println!("account server at {url} (safe mode)");

    let picture = screenshot();
    let pushed = mock.push_image(user, picture.clone()).await?;
    println!(
        "  ok   {:<38} {} bytes, MediaId served by media/get",
        "WeChat pushes a user's picture",
        picture.len()
    );
    if pushed.kind != "image" {
        return Err(format!("expected an image push, got {}", pushed.kind).into());
    }
    let downloads = mock.requests_to("/cgi-bin/media/get");
    if downloads.len() != 1 || downloads[0].errcode != Some(0) {
        return Err(
            format!("the account's server did not download the picture: {downloads:?}").into(),
        );
    }
    let pushed = mock.push_text(user, "你好，我要转人工").await?;
    let PushOutcome::Transferred { serving: None, .. } = pushed.outcome else {
        return Err(format!("expected a transfer to the queue, got {:?}", pushed.outcome).into());
    };
    println!(
        "  ok   {:<38} sealed, signed, answered",
        "WeChat pushes the message"
    );
    step("get_wait_case", client.get_wait_case().await, |r| {
        format!("{} waiting, {user} among them", r.count)
    })?;
    step(
        "create_kf_session",
        client.create_kf_session(agent, user).await,
        |_| format!("{agent} takes {user}"),
    )?;
    mock.settle_pushes().await;
    let message = SendCustomMessage::new(user, Text::new("您好，我是客服 Carol。"))
        .customservice(CustomService::new(agent));
    step(
        "send_custom_message",
        client.send_custom_message(message).await,
        |_| format!("as {agent}"),
    )?;
    step(
        "close_session",
        client.close_session(agent, user).await,
        |_| format!("{agent} is done"),
    )?;
    mock.settle_pushes().await;
    let kinds: Vec<String> = mock.pushes().into_iter().map(|p| p.kind).collect();
    if kinds != ["image", "text", "kf_create_session", "kf_close_session"] {
        return Err(format!("unexpected pushes: {kinds:?}").into());
    }
    println!(
        "  ok   {:<38} {}",
        "pushes to the account's server",
        kinds.join(", ")
    );
    Ok(())
}

async fn real(appid: String, secret: String, write: bool) -> TourResult {
    println!(
        "targeting the real API as {appid} (read-only{})",
        if write { " plus one message" } else { "" }
    );
    let client = Client::builder().app_id(appid).app_secret(secret).build()?;
    step("access token", client.access_token().await, |_| {
        "fetched (never printed)".into()
    })?;
    step("get_kf_list", client.get_kf_list().await, |r| {
        count(&r.kf_list, "agent(s)")
    })?;
    step(
        "get_online_kf_list",
        client.get_online_kf_list().await,
        |r| count(&r.kf_online_list, "online"),
    )?;
    step("get_wait_case", client.get_wait_case().await, |r| {
        format!("{} waiting", r.count)
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut records = std::pin::pin!(export_records(&client, now - 86_400, now));
    let mut exported = 0;
    while let Some(record) = records.next().await {
        record?;
        exported += 1;
    }
    println!(
        "  ok   {:<38} {exported} record(s) in the last 24 h",
        "export_records"
    );
    if write {
        let openid = std::env::var("WX_KEFU_OPENID").map_err(|_| "--write needs WX_KEFU_OPENID")?;
        let message = SendCustomMessage::new(openid, Text::new("wx-kefu tour: hello"));
        step(
            "send_custom_message (text)",
            client.send_custom_message(message).await,
            |_| "sent".into(),
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let write = std::env::args().any(|a| a == "--write");
    let wait = std::env::args().any(|a| a == "--wait");
    let result = match (std::env::var("WX_APPID"), std::env::var("WX_SECRET")) {
        (Ok(appid), Ok(secret)) => real(appid, secret, write).await,
        _ => emulated(wait).await,
    };
    match result {
        Ok(()) => {
            println!("tour finished");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tour failed: {error}");
            ExitCode::FAILURE
        }
    }
}
