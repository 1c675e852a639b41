//! One shutdown signal for every loop: SIGINT or SIGTERM (or a test) triggers it, and each loop
//! finishes its current step and returns.

use std::time::Duration;

use tokio::sync::watch;

/// A cloneable shutdown flag.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: std::sync::Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (sender, receiver) = watch::channel(false);
        Self { sender: std::sync::Arc::new(sender), receiver }
    }
}

impl Shutdown {
    /// A flag not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers it for every clone.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
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
        *self.receiver.borrow()
    }

    /// Waits until it is triggered.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        let _ = receiver.wait_for(|stop| *stop).await;
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
