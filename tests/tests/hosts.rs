//! Host fail-over over time (issue 24): the emulator on two ports, the first taken down and
//! brought back through the control API; the client stays on the host that worked and
//! tries the first again after its cool-down, logging each move.

use wx_kefu_tests as common;

use std::time::Duration;

use common::Env;
use serde_json::json;
use wx_kefu_api::*;
use wx_kefu_mock::MockServer;

const LIST: &str = "/cgi-bin/customservice/getkflist";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_that_worked_stays_and_the_first_is_tried_again_after_the_cool_down() {
    let mock = MockServer::builder()
        .hosts(2)
        .web_view(true)
        .start()
        .await
        .unwrap();
    let hosts = mock.host_urls();
    assert_eq!(hosts[0], mock.base_url());
    let cooldown = Duration::from_millis(700);
    let env = Env::start_on(mock, |b| b.hosts(hosts.clone()).host_cooldown(cooldown));
    let http = reqwest::Client::new();
    let control = |host: usize, path: &str| {
        let request = http
            .post(format!("{}/_mock/api/hosts/{path}", hosts[host]))
            .json(&json!({}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let on = |host: usize| {
        env.mock
            .requests_to(LIST)
            .iter()
            .filter(|r| r.host == host)
            .count()
    };

    env.client.get_kf_list().await.unwrap();
    assert_eq!((on(0), on(1)), (1, 0));

    // The first host goes down (asked through the second's port).
    assert_eq!(control(1, "0/down").await, 200);
    assert_eq!(env.mock.hosts_up(), [false, true]);
    assert_eq!(env.mock.snapshot()["hosts"][0]["up"], false);
    env.client.get_kf_list().await.unwrap();
    assert_eq!(env.client.current_host(), hosts[1]);
    // Sticky: the next calls go straight to the second host.
    env.mock.clear_requests();
    for _ in 0..3 {
        env.client.get_kf_list().await.unwrap();
    }
    assert_eq!((on(0), on(1)), (0, 3));
    let logs = common::logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("WeChat host failed: switching")
                && line.contains(&format!("from={}", hosts[0]))
                && line.contains(&format!("to={}", hosts[1]))
                // Refused, or cut mid-request if a kept connection met the stop.
            && (line.contains("could not connect") || line.contains("the connection broke"))),
        "the switch is logged with both hosts and the cause"
    );

    // Back up, and once the cool-down has passed the first host is used again.
    assert_eq!(control(1, "0/up").await, 200);
    assert_eq!(env.mock.hosts_up(), [true, true]);
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    env.mock.clear_requests();
    env.client.get_kf_list().await.unwrap();
    assert_eq!((on(0), on(1)), (1, 0));
    assert_eq!(env.client.current_host(), hosts[0]);
    assert!(common::logs().contains("cool-down over: trying the first WeChat host again"));

    // A host the emulator does not have.
    assert_eq!(control(0, "7/down").await, 404);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_goes_to_one_host_only() {
    let mock = MockServer::builder().hosts(2).start().await.unwrap();
    let hosts = mock.host_urls();
    let env = Env::start_on(mock, |b| {
        b.hosts(hosts.clone()).timeout(Duration::from_millis(300))
    });
    env.mock.user_message("o_one", "hi");
    env.client.access_token().await.unwrap();
    // The first host handles the send, then the connection breaks: the send may have
    // arrived, so it is not sent to the second host.
    env.mock.inject(
        wx_kefu_mock::Fault::drop_connection()
            .after_handling()
            .on_host(0),
    );
    let error = env
        .client
        .send_custom_message(SendCustomMessage::new("o_one", Text::new("一次")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                kind: TransportKind::Interrupted,
                ..
            }
        ),
        "{error:?}"
    );
    let sends = env.mock.requests_to("/cgi-bin/message/custom/send");
    assert_eq!(sends.len(), 1);
    assert_eq!((sends[0].host, sends[0].applied), (0, true));
    assert_eq!(
        env.client.current_host(),
        hosts[0],
        "a send's failure moves nothing"
    );
    env.keep(error);
    env.finish().await;
}

/// The docs do not say whether a token issued through one host is accepted by another;
/// the client keeps its token across a switch, and a host that rejects it (40001) is
/// handled as any rejection: a fresh token and one replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_rejects_the_token_gets_a_fresh_one_and_a_replay() {
    let mock = MockServer::builder().hosts(2).start().await.unwrap();
    let hosts = mock.host_urls();
    let env = Env::start_on(mock, |b| b.hosts(hosts.clone()));
    env.client.access_token().await.unwrap();
    let fetches = env.mock.stable_token_fetches();
    env.mock.stop_host(0).await;
    env.mock
        .inject(wx_kefu_mock::Fault::errcode(40001).on_path(LIST).on_host(1));
    env.client.get_kf_list().await.unwrap();
    assert_eq!(
        env.mock.stable_token_fetches(),
        fetches + 1,
        "the rejected token was fetched anew (on the second host)"
    );
    assert_eq!(env.outcomes(LIST), [Some(40001), Some(0)]);
    assert!(
        env.mock
            .requests_to("/cgi-bin/stable_token")
            .last()
            .is_some_and(|r| r.host == 1)
    );
    assert!(env.mock.requests_to(LIST).iter().all(|r| r.host == 1));
    env.finish().await;
}
