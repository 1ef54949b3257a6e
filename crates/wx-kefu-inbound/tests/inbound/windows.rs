//! The reply windows the webhook learns from pushes (issue 25, the window tracker).

use wx_kefu_inbound::{Action, Query, Reply};

use crate::common::*;
use crate::{NOW, plain_webhook};

#[tokio::test]
async fn pushes_open_and_close_the_windows_the_webhook_reports() {
    let webhook = plain_webhook();
    let deliver = |nonce: &str, body: String| {
        webhook
            .handle(
                &Query::parse(&plain_query(NOW, nonce)),
                body.as_bytes(),
                |_| Reply::success(),
            )
            .unwrap();
    };
    assert_eq!(webhook.window("oUSER").await.unwrap(), None);
    deliver("1", text_push("oUSER", "在吗", 1, NOW - 10));
    let open = webhook.window("oUSER").await.unwrap().unwrap();
    assert_eq!(open.last_action, Action::Message);
    assert_eq!(open.closes_at, NOW - 10 + 48 * 3600);
    assert_eq!(open.replies_left, Some(5));
    // A retry of the same push opens nothing more.
    deliver("1", text_push("oUSER", "在吗", 1, NOW - 10));
    assert!(webhook.windows().replied("oUSER", NOW));
    assert_eq!(
        webhook.window("oUSER").await.unwrap().unwrap().replies_left,
        Some(4)
    );

    // A menu click adds a minute of 3; a follow the same kind.
    deliver(
        "2",
        event_push("oUSER", "CLICK", NOW, "<EventKey>V1001</EventKey>"),
    );
    let open = webhook.window("oUSER").await.unwrap().unwrap();
    assert_eq!(
        (open.last_action, open.replies_left),
        (Action::MenuClick, Some(7))
    );
    deliver("3", event_push("oNEW", "subscribe", NOW, ""));
    assert_eq!(
        webhook.window("oNEW").await.unwrap().unwrap().last_action,
        Action::Follow
    );
    // Unfollowing closes every window; a kefu event opens none.
    deliver("4", event_push("oUSER", "unsubscribe", NOW, ""));
    assert_eq!(webhook.window("oUSER").await.unwrap(), None);
    deliver(
        "5",
        event_push(
            "oOTHER",
            "kf_create_session",
            NOW,
            "<KfAccount>a@gh</KfAccount>",
        ),
    );
    assert_eq!(webhook.window("oOTHER").await.unwrap(), None);
}
