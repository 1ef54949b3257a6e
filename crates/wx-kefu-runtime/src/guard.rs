//! What may refuse a call before it is sent, beyond the request's own rules: a
//! [`CallGuard`] set on the client sees each call's static description first (a third-party
//! platform's client checks that the account granted the call's permission sets).
//!
//! A raw call has no description and is not guarded.

use crate::error::Result;
use crate::meta::EndpointMeta;
use crate::token::BoxFuture;

/// Asked before each call of an endpoint, after its request passed its rules and before
/// anything is sent: an error refuses the call (nothing is sent).
pub trait CallGuard: Send + Sync {
    /// Whether the call of `endpoint` may go ahead.
    fn check<'a>(&'a self, endpoint: &'static EndpointMeta) -> BoxFuture<'a, Result<()>>;
}
