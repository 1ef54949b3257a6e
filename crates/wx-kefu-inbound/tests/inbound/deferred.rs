//! Deferred replies in one process: a handler past its budget is answered `success`, and
//! its reply goes through the in-process outbox to the customer-service API, once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wx_kefu_inbound::shared::{
    BoxFuture, CANNOT_DEFER_TRANSFER, MemoryOutbox, Problem, ReplySender, SendFailure,
};
use wx_kefu_inbound::{Query, Reply, Webhook};

use crate::NOW;
use crate::common::{APPID, TOKEN, event_push, plain_query, text_push};

fn query(nonce: &str) -> String {
    plain_query(NOW, nonce)
}

fn click_push(openid: &str) -> String {
    event_push(openid, "CLICK", NOW, "<EventKey><![CDATA[K]]></EventKey>")
}

/// Records what it sends; refuses sends to `oREFUSE` as WeChat's 45015 would.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Reply)>>);

impl ReplySender for Recorder {
    fn send<'a>(
        &'a self,
        _app_id: &'a str,
        openid: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), SendFailure>> {
        if openid == "oREFUSE" {
            return Box::pin(std::future::ready(Err(SendFailure::not_sent(
                "45015: out of the window",
            ))));
        }
        self.0
            .lock()
            .unwrap()
            .push((openid.to_owned(), reply.clone()));
        Box::pin(std::future::ready(Ok(())))
    }
}

fn webhook(sender: &Arc<Recorder>, skip_closed: bool) -> Webhook {
    let builder = Webhook::builder()
        .token(TOKEN)
        .app_id(APPID)
        .plain_mode()
        .clock(|| NOW)
        .defer_replies(sender.clone(), Arc::new(MemoryOutbox::new()))
        .reply_budget(Duration::from_millis(100));
    match skip_closed {
        true => builder.skip_closed_windows(),
        false => builder,
    }
    .build()
    .unwrap()
}

async fn slow(reply: Reply) -> Reply {
    tokio::time::sleep(Duration::from_millis(300)).await;
    reply
}

async fn settle(sender: &Recorder, webhook: &Webhook, sends: usize, reports: usize) {
    for _ in 0..200 {
        if sender.0.lock().unwrap().len() >= sends
            && webhook.reports().await.unwrap().len() >= reports
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_reply_past_the_budget_is_answered_success_and_sent_once_by_the_api() {
    let sender = Arc::new(Recorder::default());
    let webhook = webhook(&sender, false);
    let body = text_push("oUSER", "hi", 1, NOW);
    let answer = webhook
        .process(&Query::parse(&query("1")), body.as_bytes(), |_| {
            slow(Reply::image("MEDIA_ID"))
        })
        .await
        .unwrap();
    assert!(
        answer.is_success(),
        "WeChat hears `success` within the budget"
    );
    // A retry after the budget is answered `success` too, without running the handler.
    let again = webhook
        .process(&Query::parse(&query("2")), body.as_bytes(), |_| async {
            panic!("a retry must not run the handler")
        })
        .await
        .unwrap();
    assert!(again.is_success());
    settle(&sender, &webhook, 1, 0).await;
    assert_eq!(
        *sender.0.lock().unwrap(),
        vec![("oUSER".to_owned(), Reply::image("MEDIA_ID"))]
    );
    assert_eq!(webhook.reports().await.unwrap(), vec![]);
    // The send counted against the user's window.
    assert_eq!(
        webhook.window("oUSER").await.unwrap().unwrap().replies_left,
        Some(4)
    );
    // Within the budget, the reply is the passive one and nothing is sent.
    let answer = webhook
        .process(
            &Query::parse(&query("3")),
            text_push("oUSER", "hi", 2, NOW).as_bytes(),
            |_| async { Reply::text("快") },
        )
        .await
        .unwrap();
    assert!(answer.body.contains("<![CDATA[快]]>"), "{}", answer.body);
    assert_eq!(sender.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_late_hand_off_is_reported_not_sent_and_a_refused_send_is_reported() {
    let sender = Arc::new(Recorder::default());
    let webhook = webhook(&sender, false);
    webhook
        .process(
            &Query::parse(&query("1")),
            text_push("oUSER", "hi", 1, NOW).as_bytes(),
            |_| slow(Reply::transfer_customer_service()),
        )
        .await
        .unwrap();
    webhook
        .process(
            &Query::parse(&query("2")),
            text_push("oREFUSE", "hi", 2, NOW).as_bytes(),
            |_| slow(Reply::text("late")),
        )
        .await
        .unwrap();
    settle(&sender, &webhook, 0, 2).await;
    let reports = webhook.reports().await.unwrap();
    let problems: Vec<(&str, &Problem)> = reports
        .iter()
        .map(|r| (r.deferred.openid.as_str(), &r.problem))
        .collect();
    assert!(
        problems.contains(&("oUSER", &Problem::CannotDefer(CANNOT_DEFER_TRANSFER))),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(
            "oREFUSE",
            &Problem::SendFailed(SendFailure::not_sent("45015: out of the window"))
        )),
        "{problems:?}"
    );
    assert!(sender.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn with_skip_closed_windows_a_late_reply_to_a_closed_window_is_reported_instead() {
    let sender = Arc::new(Recorder::default());
    let webhook = webhook(&sender, true);
    // A click (1 minute, 3 messages) and three texts (48 hours, 5): every window is open
    // when the late replies come, so all four are sent.
    for n in 0..4 {
        webhook
            .process(
                &Query::parse(&query(&format!("c{n}"))),
                if n == 0 {
                    click_push("oCLICK")
                } else {
                    text_push("oOTHER", "hi", n, NOW)
                }
                .as_bytes(),
                move |_| slow(Reply::text(format!("late {n}"))),
            )
            .await
            .unwrap();
    }
    settle(&sender, &webhook, 4, 0).await;
    assert_eq!(sender.0.lock().unwrap().len(), 4, "every window was open");
    webhook
        .process(
            &Query::parse(&query("late")),
            text_push("oGONE", "hi", 99, NOW).as_bytes(),
            |_| slow(Reply::text("too late")),
        )
        .await
        .unwrap();
    // The user unfollows before the late reply is ready.
    webhook.windows().closed("oGONE");
    settle(&sender, &webhook, 5, 1).await;
    let reports = webhook.reports().await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].problem, Problem::WindowClosed);
    assert_eq!(reports[0].deferred.openid, "oGONE");
    assert_eq!(sender.0.lock().unwrap().len(), 4);
}
