//! Test control: DELETE requests of a kind wait until the test lets them
//! go, so a client can be stopped in the middle of a sequence of calls
//! (the request is answered, or dropped with the connection, afterwards).

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// The kinds whose DELETEs are held.
#[derive(Default)]
pub struct HeldDeletes {
    kinds: Mutex<BTreeSet<String>>,
    released: Notify,
}

impl HeldDeletes {
    /// Hold DELETEs of `kind` (`Deployment`) from now on.
    pub fn hold(&self, kind: &str) {
        self.kinds.lock().unwrap().insert(kind.to_string());
    }

    /// Let held and later DELETEs of `kind` go.
    pub fn release(&self, kind: &str) {
        self.kinds.lock().unwrap().remove(kind);
        self.released.notify_waiters();
    }

    /// Wait while DELETEs of `kind` are held.
    pub async fn wait(&self, kind: &str) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.kinds.lock().unwrap().contains(kind) {
                return;
            }
            released.await;
        }
    }
}
