//! liboauthmail: send mail through Gmail (and Microsoft 365) with OAuth 2.0, from any host that can
//! call C.
//!
//! Where things live (one module per idea; the lower ones never import the higher ones):
//! - the facade: [`Client`] (`client.rs`) owns the parts and hands each call a small context
//!   (`context.rs`: settings, HTTP agent, log, cancel flag) down to the domain;
//! - the domain: [`authorize`] (browser, loopback redirect, PKCE), [`token`] (token documents,
//!   code exchange, refresh, revoke), [`message`] (message documents to RFC 5322 bytes), `send`
//!   (fresh token first, one refresh and retry on a rejected token) over `transport`
//!   (`gmail_api`, `smtp`); [`provider`] holds Google, Microsoft and custom as data, with the
//!   scope policy; [`config`] turns `config_json` into settings;
//! - below them: `http` (the HTTPS agent), `tls` (rustls configuration, platform verifier plus
//!   extra roots, issuer capture; for HTTPS and SMTP), `net` (TCP that can be cancelled), `time`
//!   (clock, Retry-After), `file` (bounded reads of the files a host names), `cancel`, [`log`],
//!   [`secret`], [`error`] with [`hint`] and [`Status`];
//! - the C API: [`ffi`], which only checks pointers, decodes UTF-8 and JSON, calls the core,
//!   catches panics and encodes results.

pub mod authorize;
mod cancel;
pub mod check;
mod client;
pub mod config;
mod context;
pub mod error;
pub mod ffi;
mod file;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod hint;
mod http;
pub mod log;
pub mod message;
mod net;
pub mod progress;
pub mod provider;
pub mod secret;
mod send;
mod service_account;
mod status;
pub mod store;
mod time;
mod tls;
pub mod token;
mod transport;

pub use client::{Client, UrlOpener};
pub use config::Config;
pub use error::{Error, Result, Status};
pub use send::SendResult;
