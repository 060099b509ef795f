//! The bounded pool that runs requests' blocking work (store calls, validation,
//! matching) off the async threads.
//!
//! tokio's own blocking pool grows to 512 threads: a burst of heavy requests would
//! start as many, each with its memory, and the database would see as many
//! connections. Here every request's blocking step first takes one of
//! `max_blocking` permits; a request that cannot get one within `blocking_wait` is
//! answered 503 and costs nothing more. The permit travels with the work onto its
//! thread, so a client that hangs up does not free a slot while its work still runs.
//! Health checks (and `/metrics`) have a lane of their own, so a load balancer still
//! sees the database while members fill the pool; event streams' polls have another.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::service::{Error, Kind};

/// Permits of the health lane (`/healthz`), apart from `max_blocking`.
pub const HEALTH_LANE: usize = 2;

/// Permits of the event streams' lane: their polls, apart from `max_blocking`.
pub const STREAM_LANE: usize = 4;

/// Threads tokio may start beyond the lanes, for its own blocking work (name
/// resolution, files).
const HEADROOM: usize = 8;

/// One lane: a number of permits and how long a caller waits for one.
pub struct Lane {
    permits: Arc<Semaphore>,
    limit: usize,
    wait: Duration,
    busy: Arc<AtomicUsize>,
    peak: AtomicUsize,
    refused: AtomicU64,
}

/// Held while one piece of blocking work runs; frees its slot when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    busy: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Relaxed);
    }
}

impl Lane {
    pub fn new(limit: usize, wait: Duration) -> Lane {
        let limit = limit.max(1);
        Lane {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            wait,
            busy: Arc::default(),
            peak: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A slot, waiting up to the lane's wait; 503 (`Unavailable`) when none frees.
    pub async fn enter(&self) -> Result<Slot, Error> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        self.refused.fetch_add(1, Relaxed);
                        return Err(Error::new(
                            Kind::Unavailable,
                            format!(
                            "the hub is busy: all {} workers stayed taken for {} s; retry shortly",
                            self.limit,
                            self.wait.as_secs_f64()
                        ),
                        ));
                    }
                }
            }
        };
        let now = self.busy.fetch_add(1, Relaxed) + 1;
        self.peak.fetch_max(now, Relaxed);
        Ok(Slot {
            _permit: permit,
            busy: self.busy.clone(),
        })
    }

    /// Slots taken now.
    pub fn busy(&self) -> usize {
        self.busy.load(Relaxed)
    }

    /// The most slots ever taken at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }

    /// Callers answered 503 for want of a slot.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// The most blocking threads a runtime serving with `max_blocking` needs: both lanes
/// and tokio's headroom. Set it on the runtime so the bound holds for the process.
pub fn max_blocking_threads(max_blocking: usize) -> usize {
    max_blocking.max(1) + HEALTH_LANE + STREAM_LANE + HEADROOM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_lane_answers_busy_after_its_wait_and_frees_on_drop() {
        let lane = Lane::new(1, Duration::from_millis(20));
        let held = lane.enter().await.expect("a free slot");
        assert_eq!(lane.busy(), 1);
        let e = lane.enter().await.err().expect("the lane is full");
        assert_eq!(e.kind, Kind::Unavailable);
        assert!(e.message.contains("all 1 workers"), "{}", e.message);
        assert_eq!(lane.refused(), 1);
        drop(held);
        assert_eq!(lane.busy(), 0);
        let _again = lane.enter().await.expect("the slot came back");
        assert_eq!(lane.peak(), 1);
    }
}
