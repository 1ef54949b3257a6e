//! Tests of the built `wx-kefu` binary against an emulator started in the test.
//!
//! Each test starts its own [`wx_kefu_mock::MockServer`] on 127.0.0.1 and runs the binary
//! with `std::process::Command`, the way a user would: arguments, environment, exit status,
//! stdout and stderr. Every run also checks that the app secret never appears in the output.

mod accounts;
mod config;
mod errors;
mod export;
mod help;
mod hostile;
mod media;
mod messages;
mod mock;
mod platform;
mod sessions;
mod support;
mod token;
