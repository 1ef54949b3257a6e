//! The handle's methods, by subject: what a test (or the web view's control API) can do
//! to the emulated account and read of it.

mod accounts;
mod clock;
mod faults;
mod hosts;
pub(crate) mod media;
mod notices;
pub(crate) mod platform;
mod pushes;
mod sessions;
mod tokens;
mod users;

pub(crate) use media::sniff;
