//! When the window has closed: an agent answers after the user's 48 hours, and the declared
//! fallback (a template message, then a subscribe notification) reaches the user once,
//! against the emulator's templates and subscriptions.

use wx_kefu_tests as common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Env;
use wx_kefu_api::*;
use wx_kefu_mock::{Fault, Speaker};

const USER: &str = "o_closed_window";
const TEMPLATE: &str = "TPL_reply_notice";
const NOTICE: &str = "TPL_ticket_update";

fn answer(text: &str) -> SendCustomMessage {
    SendCustomMessage::new(USER, Text::new(text))
}

fn template() -> SendTemplateMessage {
    SendTemplateMessage::new(
        USER,
        TEMPLATE,
        BTreeMap::from([(
            "keyword1".to_owned(),
            TemplateValue::new("客服回复了您的问题"),
        )]),
    )
    .url("https://example.com/chat")
}

fn notification() -> SendSubscribeMessage {
    SendSubscribeMessage::new(
        USER,
        NOTICE,
        BTreeMap::from([("thing1".to_owned(), SubscribeValue::new("您的工单有新回复"))]),
    )
}

/// The user's bubbles of `kind` from the account.
fn notices(env: &Env, kind: &str) -> usize {
    env.mock
        .conversation(USER)
        .iter()
        .filter(|b| b.from == Speaker::Agent && b.kind == kind)
        .count()
}

async fn closed_window() -> Env {
    let env = Env::start().await;
    env.mock
        .add_template(TEMPLATE, "回复提醒", "{{keyword1.DATA}}");
    env.mock.add_template(NOTICE, "工单进度", "{{thing1.DATA}}");
    env.mock.user_message(USER, "我的订单怎么还没到？");
    // The agent answers two days later: the 48-hour window has closed.
    env.mock.advance(Duration::from_secs(49 * 3600));
    env
}

#[tokio::test]
async fn an_answer_after_the_window_goes_as_one_template_and_the_next_after_the_user_writes_back() {
    let env = closed_window().await;
    // On its own, the answer is refused with the window's errcode.
    env.api_err(
        env.client.send_custom_message(answer("已发货")).await,
        ErrCode::ResponseOutOfTimeLimit,
    );
    // Declared: the template instead. Its answer is lost once (the connection drops after
    // WeChat handled it); with its client_msg_id the client retries it, and WeChat sends
    // one message for the id.
    env.mock.inject(
        Fault::drop_connection()
            .on_path("/cgi-bin/message/template/send")
            .after_handling(),
    );
    let delivered = Fallback::new(answer("已发货"))
        .or_template(template())
        .send(&env.client)
        .await
        .unwrap();
    let Delivered::Template { msgid } = delivered else {
        panic!("expected the template, got {delivered:?}");
    };
    assert!(msgid > 0);
    let requests = env.mock.requests_to("/cgi-bin/message/template/send");
    assert_eq!(
        requests.len(),
        2,
        "sent, answer lost, sent again with the same client_msg_id"
    );
    assert_eq!(
        requests.iter().filter(|r| r.applied).count(),
        1,
        "the repeat was answered, not carried out: {requests:?}"
    );
    assert_eq!(
        notices(&env, "template"),
        1,
        "one template reached the user"
    );
    assert_eq!(env.mock.notices_sent(), (1, 0));
    // The user taps it and writes back: the window is open again, the message goes.
    env.mock.user_message(USER, "收到，谢谢");
    let delivered = Fallback::new(answer("不客气"))
        .or_template(template())
        .send(&env.client)
        .await
        .unwrap();
    assert_eq!(delivered, Delivered::CustomerService);
    assert_eq!(notices(&env, "template"), 1, "no template this time");
    env.finish().await;
}

#[tokio::test]
async fn the_same_idempotency_key_sends_one_template_however_often_the_application_repeats() {
    let env = closed_window().await;
    let send = || {
        Fallback::new(answer("已发货"))
            .or_template(template())
            .idempotency_key("ticket-42-reply-1")
            .send(&env.client)
    };
    let first = send().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(first, again, "the same msgid: WeChat sent it once");
    assert_eq!(notices(&env, "template"), 1);
    // Without a key, a repeat of the same data within 60 s is WeChat's 40241.
    let error = env.api_err(
        env.client.send_template_message(template()).await,
        ErrCode::TemplateMessageDuplicate,
    );
    assert!(error.to_string().contains("40241"), "{error}");
    env.finish().await;
}

#[tokio::test]
async fn a_refused_template_moves_to_the_subscription_and_a_used_up_one_is_43101_with_nothing_sent()
{
    let env = closed_window().await;
    env.mock.set_template_banned(TEMPLATE, true).unwrap();
    env.mock.grant_subscription(USER, NOTICE, 1);
    let fallback = || {
        Fallback::new(answer("已发货"))
            .or_template(template())
            .or_subscribe(notification())
    };
    let delivered = fallback().send(&env.client).await.unwrap();
    assert_eq!(delivered, Delivered::Subscribe);
    assert_eq!(env.mock.subscriptions_left(USER, NOTICE), 0);
    assert_eq!(notices(&env, "subscribe"), 1);
    // The subscription is used up: a typed 43101, and nothing else is sent.
    let before = env.mock.conversation(USER).len();
    env.api_err(
        fallback().send(&env.client).await,
        ErrCode::UserRefuseToAcceptTheMsg,
    );
    assert_eq!(env.mock.conversation(USER).len(), before);
    assert_eq!(env.mock.notices_sent(), (0, 1));
    env.finish().await;
}

#[tokio::test]
async fn only_the_windows_errors_fall_back_and_a_known_closed_window_skips_the_message() {
    let env = closed_window().await;
    // Another error of the message is returned as it is: nothing else is sent.
    let unknown = SendCustomMessage::new("o_nobody", Text::new("hi"));
    env.api_err(
        Fallback::new(unknown)
            .or_template(template())
            .send(&env.client)
            .await,
        ErrCode::InvalidOpenid,
    );
    assert_eq!(env.mock.notices_sent(), (0, 0));
    // The window tracker said the window is closed: the message is not even tried.
    env.mock.clear_requests();
    let delivered = Fallback::new(answer("已发货"))
        .or_template(template())
        .window_closed(true)
        .send(&env.client)
        .await
        .unwrap();
    assert!(
        matches!(delivered, Delivered::Template { .. }),
        "{delivered:?}"
    );
    assert!(
        env.mock
            .requests_to("/cgi-bin/message/custom/send")
            .is_empty()
    );
    // A template to an unknown template id is WeChat's refusal, returned typed.
    let mut wrong = template();
    wrong.template_id = "TPL_nope".into();
    env.api_err(
        Fallback::new(answer("已发货"))
            .or_template(wrong)
            .send(&env.client)
            .await,
        ErrCode::InvalidTemplateId,
    );
    env.finish().await;
}

#[tokio::test]
async fn the_emulator_answers_a_broken_subscribe_value_with_47003_naming_it() {
    let env = closed_window().await;
    env.mock.grant_subscription(USER, NOTICE, 1);
    // Past the SDK's own checks (a raw call), as another client would send it.
    let body = serde_json::json!({
        "touser": USER,
        "template_id": NOTICE,
        "data": { "phrase1": { "value": "not chinese" } },
    });
    let refused = env
        .client
        .raw(RawRequest::post("/cgi-bin/message/subscribe/bizsend").json(&body))
        .await;
    let error = env.api_err(refused, ErrCode::ArgumentInvalid);
    assert!(error.to_string().contains("data.phrase1.value"), "{error}");
    assert_eq!(
        env.mock.subscriptions_left(USER, NOTICE),
        1,
        "nothing was used"
    );
    env.finish().await;
}
