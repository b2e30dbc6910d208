//! A forced panic, compiled into debug builds only: with `PAYSCAN_TEST_PANIC=1` payscan panics,
//! once started, in a task that holds the loaded configuration, keys and registry and names them
//! in its message, so the end-to-end suite can check that a panic prints none of their secrets.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use payscan_core::config::Config;
use payscan_core::registry::{Registry, SharedRegistry};
use payscan_custody::Keys;

use crate::tasks::Tasks;

/// Starts the panicking task when `PAYSCAN_TEST_PANIC=1`.
pub(crate) fn spawn_if_asked(tasks: &mut Tasks, config: &Config, keys: Arc<Keys>, registry: SharedRegistry) {
    if std::env::var("PAYSCAN_TEST_PANIC").as_deref() != Ok("1") {
        return;
    }
    let config = config.clone();
    tasks.spawn("panic-drill", async move {
        // Past start-up: the daemon listens and its other tasks run.
        tokio::time::sleep(Duration::from_millis(300)).await;
        panic_holding(&config, &keys, &registry.current())
    });
}

fn panic_holding(config: &Config, keys: &Keys, registry: &Registry) -> Result<(), Infallible> {
    panic!("panic drill: a task holding {config:?}, {keys:?} and {registry:?} panicked")
}
