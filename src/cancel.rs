//! Cancellation: `oauthmail_cancel` stops the calls in flight on a client, and only those.
//!
//! A client keeps a generation counter. Each call remembers the generation it started in; cancel
//! bumps the counter, so every call started before it sees the change and calls started after
//! it do not. Blocking loops poll [`Call::check`] at least every [`POLL`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// How often blocking waits look at the cancel flag: short enough that cancel feels immediate.
pub const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
pub struct Canceller {
    generation: Arc<AtomicU64>,
}

impl Canceller {
    /// Starts a call: it is cancelled by any later [`Canceller::cancel`].
    pub fn begin(&self) -> Call {
        Call {
            generation: Arc::clone(&self.generation),
            started: self.generation.load(Ordering::SeqCst),
        }
    }

    pub fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// One call's view of cancellation; cheap to clone into helper threads or I/O adapters.
#[derive(Debug, Clone)]
pub struct Call {
    generation: Arc<AtomicU64>,
    started: u64,
}

impl Call {
    pub fn is_cancelled(&self) -> bool {
        self.generation.load(Ordering::SeqCst) != self.started
    }

    /// `Err(CANCELLED)` once the call has been cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }

    /// A call that can never be cancelled, for tests and internal use.
    pub fn detached() -> Call {
        Call {
            generation: Arc::new(AtomicU64::new(0)),
            started: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_stops_calls_in_flight_but_not_later_calls() {
        let c = Canceller::default();
        let before = c.begin();
        c.cancel();
        let after = c.begin();
        assert!(before.is_cancelled());
        assert!(before.check().is_err());
        assert!(!after.is_cancelled());
    }
}
