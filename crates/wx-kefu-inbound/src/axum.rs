//! The webhook as an axum route (feature `axum`): `GET` answers the URL check, `POST`
//! receives pushes and answers with the application's reply.
//!
//! ```no_run
//! use wx_kefu_inbound::{Reply, Webhook};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let webhook = Webhook::builder().token("TOKEN").app_id("wx_APPID").plain_mode().build()?;
//! let app = axum::Router::new().route(
//!     "/wechat",
//!     wx_kefu_inbound::axum::route(webhook, |push| async move {
//!         if push.is_event() { Reply::success() } else { Reply::transfer_customer_service() }
//!     }),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use crate::error::Error;
use crate::push::Push;
use crate::reply::{Answer, Reply};
use crate::webhook::{Query, Webhook};

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

impl IntoResponse for Error {
    /// The status of [`Error::http_status`] and its fixed [`Error::public_reason`]: the
    /// caller learns nothing of the server (its clock, a handler's panic, what was sent
    /// back). The error itself, quoted and cut, goes to the `tracing` log.
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        tracing::warn!(status = status.as_u16(), error = %self, "wx-kefu webhook refused a request");
        (status, self.public_reason()).into_response()
    }
}

/// The route: `GET` for the URL check, `POST` for pushes, each push answered with what
/// `handler` returns, through [`Webhook::process`]: a retry is answered from the dedup
/// store (shared by several instances, when configured) without calling it again; one
/// arriving while the first is still being processed waits up to 4 s for its reply; with
/// deferral, a handler past its budget is answered `success` and its reply sent later.
///
/// The body is read up to the webhook's size cap and no further.
pub fn route<H, F>(webhook: Webhook, handler: H) -> MethodRouter
where
    H: Fn(Push) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let limit = webhook.max_body_bytes();
    let for_get = webhook.clone();
    get(move |RawQuery(query): RawQuery| {
        let webhook = for_get.clone();
        async move { webhook.verify_url(&Query::parse(query.as_deref().unwrap_or_default())) }
    })
    .post(
        move |RawQuery(query): RawQuery, body: Result<Bytes, BytesRejection>| {
            let webhook = webhook.clone();
            let handler = handler.clone();
            async move {
                let query = Query::parse(query.as_deref().unwrap_or_default());
                receive(&webhook, &query, body, handler).await
            }
        },
    )
    .layer(DefaultBodyLimit::max(limit))
}

async fn receive<H, F>(
    webhook: &Webhook,
    query: &Query<'_>,
    body: Result<Bytes, BytesRejection>,
    handler: H,
) -> Result<Answer, Error>
where
    H: Fn(Push) -> F + Send + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let limit = webhook.max_body_bytes();
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge {
                size: limit.saturating_add(1),
                limit,
            }
        } else {
            Error::Body(rejection.body_text())
        }
    })?;
    webhook.process(query, &body, handler).await
}
