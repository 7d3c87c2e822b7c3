//! A stop signal every task of the service listens to (as in tokio's mini-redis): the
//! service keeps the [`Trigger`], each task a clone of [`Shutdown`]. Tasks look at it
//! between units of work (a batch, a poll round, a connection) and in every wait, so a
//! stop never cuts a transaction in half.

use std::time::Duration;

use tokio::sync::watch;

/// Fires the stop for every [`Shutdown`] made with it (also when dropped).
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// A task's view of the stop.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Shutdown(rx))
    }

    /// True once the stop is asked for (or its trigger is gone).
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Returns when the stop is asked for.
    pub async fn recv(&mut self) {
        while !*self.0.borrow_and_update() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }

    /// On a thread of its own (not a task): waits `d`, or less when the stop comes
    /// first (looked at every 100 ms); true when stopping.
    pub fn wait_blocking(&self, d: Duration) -> bool {
        let end = std::time::Instant::now() + d;
        loop {
            if self.is_shutdown() {
                return true;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// Sleeps `d`, or less when the stop comes first; true when stopping.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_shutdown(),
            _ = self.recv() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fired_trigger_ends_every_wait_at_once() {
        let (trigger, shutdown) = Shutdown::new();
        let mut a = shutdown.clone();
        assert!(!a.is_shutdown());
        let sleeper = tokio::spawn(async move { a.sleep(Duration::from_secs(60)).await });
        trigger.fire();
        let stopped = tokio::time::timeout(Duration::from_secs(5), sleeper).await;
        assert!(stopped.expect("the sleep ended").expect("no panic"));
        assert!(shutdown.is_shutdown());
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_a_stop() {
        let (trigger, mut shutdown) = Shutdown::new();
        drop(trigger);
        assert!(shutdown.is_shutdown());
        tokio::time::timeout(Duration::from_secs(5), shutdown.recv())
            .await
            .expect("recv returns");
    }
}
