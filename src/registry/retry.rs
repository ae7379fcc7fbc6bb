//! When and how long to retry. One operation (placing a blob, fetching a manifest, a token)
//! has one retry budget, shared by every loop nested inside it: a fresh upload session, a
//! resumed chunk and the request inside it all draw from the same count, so `--retries 4`
//! means at most 4 retries of the operation, never (4+1)³ attempts.

use super::{Client, RegistryError};
use crate::report::{Event, Retry};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The longest `Retry-After` imgpush waits. A registry asking for more (Docker Hub's pull
/// rate limit asks for hours) gets an error naming the wait instead of a silent hang.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

pub(crate) use super::error::retryable_status;

/// `Retry-After` in seconds (the HTTP-date form is rare from registries and ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Retries left for the operation running on this task.
pub(crate) struct Budget {
    used: AtomicU32,
    total: u32,
}

tokio::task_local! {
    static BUDGET: Arc<Budget>;
}

impl Client {
    /// Runs `operation` with one retry budget: the one already in force on this task (an
    /// outer operation's), or a fresh one of `--retries`. The operation is boxed before
    /// anything else holds it: nested operations would otherwise build one future too
    /// large for a thread's stack.
    pub(crate) fn budgeted<'a, F: Future + 'a>(
        &self,
        operation: F,
    ) -> impl Future<Output = F::Output> + 'a {
        let operation = Box::pin(operation);
        let total = self.config.retries;
        async move {
            if BUDGET.try_with(|_| ()).is_ok() {
                operation.await
            } else {
                let budget = Arc::new(Budget {
                    used: AtomicU32::new(0),
                    total,
                });
                BUDGET.scope(budget, operation).await
            }
        }
    }

    /// Takes one retry from the budget and waits before it: `Retry-After` when the registry
    /// gave one, else 250 ms · 2^(n-1) (capped at 8 s) with ±50 % jitter. `Ok(false)` when
    /// the budget is spent (the caller returns its error); an error when the registry asks
    /// to wait longer than [`RETRY_AFTER_CAP`].
    pub(crate) async fn pause(
        &self,
        op: &str,
        why: &str,
        retry_after: Option<Duration>,
    ) -> Result<bool, RegistryError> {
        if let Some(wait) = retry_after
            && wait > RETRY_AFTER_CAP
        {
            return Err(RegistryError::RateLimited {
                op: op.to_string(),
                registry: self.config.registry.clone(),
                wait_secs: wait.as_secs(),
                cap_secs: RETRY_AFTER_CAP.as_secs(),
            });
        }
        // Every retry loop runs inside `budgeted`; outside one (a bug) nothing is retried.
        debug_assert!(
            BUDGET.try_with(|_| ()).is_ok(),
            "pause outside budgeted: {op}"
        );
        let taken = BUDGET
            .try_with(|b| {
                let n = b.used.fetch_add(1, Ordering::Relaxed) + 1;
                (n <= b.total).then_some((n, b.total))
            })
            .unwrap_or(None);
        let Some((attempt, total)) = taken else {
            return Ok(false);
        };
        // An error's text often starts with the operation already.
        let why = why
            .strip_prefix(op)
            .map(|rest| rest.trim_start_matches(':').trim_start())
            .unwrap_or(why);
        let delay = retry_after.unwrap_or_else(|| {
            let base = Duration::from_millis(250) * 2u32.pow((attempt - 1).min(5));
            base.min(Duration::from_secs(8))
                .mul_f64(0.5 + fastrand::f64())
        });
        self.reporter.event(Event::Retry(Retry {
            op: op.to_string(),
            attempt,
            of: total,
            why: why.to_string(),
            wait: delay,
            registry_asked: retry_after.is_some(),
        }));
        tokio::time::sleep(delay).await;
        Ok(true)
    }

    /// [`Client::pause`] for callers outside the registry module that retry whole
    /// operations (concurrent-write conflicts): false when the budget is spent.
    pub async fn pause_before_retry(&self, op: &str, why: &str) -> bool {
        self.pause(op, why, None).await.unwrap_or(false)
    }

    /// Runs `operation` under one retry budget; for callers outside the registry module.
    pub async fn with_retry_budget<F: Future>(&self, operation: F) -> F::Output {
        self.budgeted(operation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ClientSettings;

    fn client(retries: u32) -> Client {
        Client::new(
            ClientSettings {
                registry: "127.0.0.1:1".into(),
                insecure: false,
                credential: None,
                credential_source: None,
                insecure_hosts: vec![],
                scopes: vec![],
                chunk_size: None,
                retries,
                read_timeout: Duration::from_secs(1),
                extra_roots: vec![],
                cache: None,
            },
            Arc::new(crate::report::NoopReporter),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn nested_loops_share_one_budget() {
        let c = client(3);
        let taken = c
            .budgeted(async {
                let mut n = 0;
                // An outer loop and an inner loop, as an upload session around a request.
                for _ in 0..5 {
                    let inner = c
                        .budgeted(async {
                            let mut m = 0;
                            while c.pause("op", "why", None).await.unwrap() {
                                m += 1;
                            }
                            m
                        })
                        .await;
                    n += inner;
                }
                n
            })
            .await;
        assert_eq!(taken, 3, "three retries in all, not three per loop");
    }

    #[tokio::test(start_paused = true)]
    async fn each_wait_is_a_retry_event() {
        let reporter = Arc::new(crate::report::RecordingReporter::default());
        let mut c = client(2);
        c.reporter = reporter.clone();
        c.budgeted(async {
            assert!(c.pause("pulling", "pulling: 503", None).await.unwrap());
            assert!(
                c.pause("pulling", "429", Some(Duration::from_secs(2)))
                    .await
                    .unwrap()
            );
            assert!(!c.pause("pulling", "429", None).await.unwrap());
        })
        .await;
        let retries: Vec<Retry> = reporter
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Retry(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(retries.len(), 2, "{retries:?}");
        assert_eq!(
            (retries[0].attempt, retries[0].of, retries[0].why.as_str()),
            (1, 2, "503"),
            "the operation is not repeated in why"
        );
        assert!(!retries[0].registry_asked);
        assert!(retries[1].registry_asked);
        assert_eq!(retries[1].wait, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_cap_is_an_error() {
        let c = client(3);
        let err = c
            .budgeted(c.pause("pulling", "429", Some(Duration::from_secs(3600))))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("3600") && text.contains("60"), "{text}");
        assert!(
            c.budgeted(c.pause("pulling", "429", Some(Duration::from_secs(2))))
                .await
                .unwrap()
        );
    }

    #[test]
    fn retry_after_parses_seconds_without_overflow() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "18446744073709551615".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(u64::MAX)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
