//! One shutdown signal for every loop: SIGINT or SIGTERM (or a test) triggers it, and each loop
//! finishes its current step and returns. It is a [`CancellationToken`]: a part that must be
//! stoppable on its own (one oracle of the demo) takes a [`Shutdown::child`], which also stops
//! with its parent, so nothing forwards one signal to another.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown flag: a [`CancellationToken`] with the helpers the loops use.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Self(token)
    }
}

impl Shutdown {
    /// A flag not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag triggered with this one, or on its own without stopping this one.
    pub fn child(&self) -> Self {
        Self(self.0.child_token())
    }

    /// The token underneath, for code that speaks `tokio_util` directly.
    pub fn token(&self) -> &CancellationToken {
        &self.0
    }

    /// Triggers it for every clone (and every child).
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Triggers it when `result` is an error, so one failing loop stops the others.
    pub fn trigger_if_err<T, E: std::fmt::Display>(&self, result: &std::result::Result<T, E>) {
        if let Err(e) = result {
            tracing::error!("{e}; stopping");
            self.trigger();
        }
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Waits until it is triggered.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }

    /// Sleeps for `duration` or until shutdown; returns `true` if shutdown came first.
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => self.is_triggered(),
            () = self.wait() => true,
        }
    }

    /// Triggers on the first SIGINT or SIGTERM.
    pub fn on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => tokio::select! {
                        _ = ctrl_c => {},
                        _ = term.recv() => {},
                    },
                    Err(_) => {
                        let _ = ctrl_c.await;
                    }
                }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
            tracing::info!("shutdown signal received; stopping every loop");
            this.trigger();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Far longer than any test runs: a sleep that returns did so because of the shutdown.
    const FOREVER: Duration = Duration::from_secs(24 * 3_600);

    #[tokio::test]
    async fn a_child_stops_with_its_parent_but_not_the_other_way() {
        let all = Shutdown::new();
        let one = all.child();
        one.trigger();
        assert!(one.is_triggered());
        assert!(!all.is_triggered(), "stopping one part leaves the rest running");

        let other = all.child();
        let clone = all.clone();
        let sleeping = tokio::spawn(async move { other.sleep(FOREVER).await });
        clone.trigger();
        assert!(
            sleeping.await.expect("sleep task"),
            "the parent's shutdown ends the child's sleep"
        );
        all.wait().await;
    }

    #[tokio::test]
    async fn sleep_after_shutdown_returns_at_once() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        assert!(shutdown.sleep(FOREVER).await);
        shutdown.wait().await;
    }
}
