//! Trying again: `slipway retry` asks for a failed revision to be run once
//! more, and a cluster problem is retried after a growing pause.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Pause before the first retry of a cluster problem; doubled per attempt.
pub const RETRY_BACKOFF_FIRST: Duration = Duration::from_secs(2);

/// Pause before retry `attempt` (1 for the first), doubling from
/// [`RETRY_BACKOFF_FIRST`] and never longer than `ceiling` (the poll interval,
/// which retries anyway).
pub fn backoff(attempt: u32, ceiling: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    RETRY_BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(ceiling)
}

/// Pause before a pass that a watch event (possible drift) starts.
pub const WATCH_PAUSE_FIRST: Duration = Duration::from_millis(200);

/// Watch events closer together than this count as one streak: another
/// controller fighting over a field, or a burst of changes.
pub const WATCH_STREAK_WINDOW: Duration = Duration::from_secs(10);

/// Pause before the pass a watch event starts, `streak` events into a
/// streak (0 for the first): [`WATCH_PAUSE_FIRST`], doubling along the
/// streak, never longer than `ceiling` (the poll interval). Drift is put
/// back within a second, and a fight with another controller slows down.
pub fn watch_pause(streak: u32, ceiling: Duration) -> Duration {
    WATCH_PAUSE_FIRST
        .saturating_mul(1 << streak.min(16))
        .min(ceiling)
}

/// Requests a person made for app/environments through the status API
/// (`slipway retry`, `slipway promote --env`, `slipway abort`), shared by
/// the API (which asks) and the sync loop (which answers).
#[derive(Debug, Clone, Default)]
pub struct TargetRequests {
    wanted: Arc<Mutex<HashSet<(String, String)>>>,
    changed: Arc<Notify>,
}

/// Failed revisions a person asked to run again.
pub type RetryRequests = TargetRequests;

impl TargetRequests {
    /// Ask for `app`/`environment`.
    pub fn request(&self, app: &str, environment: &str) {
        self.lock()
            .insert((app.to_string(), environment.to_string()));
        self.changed.notify_waiters();
    }

    /// Whether it was asked for, forgetting the request.
    pub fn take(&self, app: &str, environment: &str) -> bool {
        self.lock()
            .remove(&(app.to_string(), environment.to_string()))
    }

    /// Wait until it is asked for (without taking the request).
    pub async fn requested(&self, app: &str, environment: &str) {
        let key = (app.to_string(), environment.to_string());
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.lock().contains(&key) {
                return;
            }
            changed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_the_ceiling() {
        let ceiling = Duration::from_secs(60);
        let cases = [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)];
        for (attempt, seconds) in cases {
            assert_eq!(
                backoff(attempt, ceiling),
                Duration::from_secs(seconds),
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn the_pause_after_a_watch_event_doubles_along_a_streak() {
        let ceiling = Duration::from_secs(30);
        let cases = [
            (0, 200),
            (1, 400),
            (3, 1_600),
            (7, 25_600),
            (8, 30_000),
            (99, 30_000),
        ];
        for (streak, millis) in cases {
            assert_eq!(
                watch_pause(streak, ceiling),
                Duration::from_millis(millis),
                "streak {streak}"
            );
        }
    }

    #[test]
    fn a_retry_request_is_taken_once() {
        let requests = RetryRequests::default();
        requests.request("web", "dev");
        assert!(!requests.take("web", "prod"));
        assert!(requests.take("web", "dev"));
        assert!(!requests.take("web", "dev"));
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_its_target_is_asked_for() {
        let requests = RetryRequests::default();
        let waiter = tokio::spawn({
            let requests = requests.clone();
            async move { requests.requested("web", "prod").await }
        });
        tokio::task::yield_now().await;
        requests.request("web", "dev");
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "another target does not wake it");
        requests.request("web", "prod");
        waiter.await.unwrap();
        assert!(
            requests.take("web", "prod"),
            "waiting does not take the request"
        );
    }
}
