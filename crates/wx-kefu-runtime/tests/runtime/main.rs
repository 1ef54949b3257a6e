//! Behaviour tests of the runtime against a focused in-test server on 127.0.0.1.
//!
//! One test binary, so that one log capture sees every test's logs and the leak scan
//! covers them all.

mod common;
mod errors;
mod export;
mod retry;
mod token;
mod upload;
