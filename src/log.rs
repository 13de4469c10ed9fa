//! The host's logger, seen from the core: leveled messages that never contain a secret.
//!
//! Messages are built lazily, so logging costs nothing when no logger is set or the level is off.
//! Anything that could hold a secret is a [`crate::secret::Secret`], whose `Debug`/`Display`
//! print `<redacted>`; never log a raw token, a code or a form body.

use std::sync::{Arc, RwLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// Where log lines go: the FFI layer adapts the host's C callback to this.
pub type Sink = dyn Fn(Level, &str) + Send + Sync;

/// The sink and its maximum level, if one is set.
type Slot = RwLock<Option<(Arc<Sink>, Level)>>;

/// Clones share one sink: the client and its HTTP agent log to the same host callback.
#[derive(Default, Clone)]
pub struct Log {
    sink: Arc<Slot>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Log")
    }
}

impl Log {
    /// Sets (or, with `None`, removes) the sink; messages above `max` are dropped.
    pub fn set(&self, sink: Option<Arc<Sink>>, max: Level) {
        let mut guard = self.sink.write().unwrap_or_else(|e| e.into_inner());
        *guard = sink.map(|s| (s, max));
    }

    pub fn enabled(&self, level: Level) -> bool {
        let guard = self.sink.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|(_, max)| level <= *max)
    }

    pub fn log(&self, level: Level, message: impl FnOnce() -> String) {
        // Clone the sink out so the host's callback runs without our lock held.
        let sink = {
            let guard = self.sink.read().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some((sink, max)) if level <= *max => Arc::clone(sink),
                _ => return,
            }
        };
        sink(level, &message());
    }

    pub fn error(&self, m: impl FnOnce() -> String) {
        self.log(Level::Error, m)
    }
    pub fn warn(&self, m: impl FnOnce() -> String) {
        self.log(Level::Warn, m)
    }
    pub fn info(&self, m: impl FnOnce() -> String) {
        self.log(Level::Info, m)
    }
    pub fn debug(&self, m: impl FnOnce() -> String) {
        self.log(Level::Debug, m)
    }
    pub fn trace(&self, m: impl FnOnce() -> String) {
        self.log(Level::Trace, m)
    }
}

impl Level {
    /// Levels above 5 mean "everything"; 0 means "nothing" (the caller then sets no sink).
    pub fn from_u32(level: u32) -> Option<Level> {
        match level {
            0 => None,
            1 => Some(Level::Error),
            2 => Some(Level::Warn),
            3 => Some(Level::Info),
            4 => Some(Level::Debug),
            _ => Some(Level::Trace),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn messages_above_max_level_are_not_even_built() {
        let log = Log::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        log.set(
            Some(Arc::new(move |l, m: &str| s.lock().unwrap().push((l, m.to_string())))),
            Level::Info,
        );
        log.info(|| "kept".into());
        log.debug(|| panic!("a debug message must not be formatted at max level info"));
        assert_eq!(*seen.lock().unwrap(), vec![(Level::Info, "kept".to_string())]);
    }
}
