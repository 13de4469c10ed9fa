//! liboauthmail: send mail through Gmail (and Microsoft 365) with OAuth 2.0, from any host that can
//! call C.
//!
//! The core is ordinary Rust: [`Client`] authorizes an account in the system browser
//! ([`authorize`]), keeps its token fresh ([`token`]), and sends messages ([`message`], [`send`],
//! [`transport`]) through the Gmail API or SMTP with XOAUTH2. Providers are data ([`provider`]).
//! The C API lives in one place, [`ffi`], which only checks pointers, decodes UTF-8 and JSON,
//! calls the core, catches panics and encodes results.

pub mod authorize;
pub mod cancel;
pub mod client;
pub mod config;
pub mod error;
pub mod ffi;
pub mod hint;
pub mod http;
pub mod log;
pub mod message;
mod net;
pub mod provider;
pub mod secret;
pub mod send;
pub mod store;
pub mod token;
pub mod transport;

pub use client::Client;
pub use config::Config;
pub use error::{Error, Result, Status};
