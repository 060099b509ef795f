//! The hub's clock: the system clock, or a manual one that tests move forward so that
//! retries, due dates and escalations happen without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use hinomi_stix::Timestamp;

/// Where "now" comes from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that only moves when told (microseconds since the epoch).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: Timestamp) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start.micros())))
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Manual(t) => Timestamp(t.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward by `d` (no effect on the system clock).
    pub fn advance(&self, d: std::time::Duration) {
        if let Clock::Manual(t) = self {
            t.fetch_add(d.as_micros() as i64, Ordering::SeqCst);
        }
    }
}
