//! The one place background tasks are spawned and watched. Each runs under a name; how it ended
//! (stopped when asked, failed with its error, panicked, or ended before it was asked to) is
//! logged and kept on the board, so that health shows a task that died instead of it vanishing.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::clock;
use crate::redact::scrub_urls;

/// How much of a task's error is kept: enough to say why, never a whole answer body.
const ERROR_CHARS: usize = 500;

/// A task's state, as last recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Running,
    /// It stopped when asked to (shutdown, or its chain left the registry).
    Stopped,
    /// It returned an error, panicked, or ended while it should have been running.
    Failed,
}

/// One task, as last recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub name: String,
    pub state: TaskState,
    /// Why it failed, its URLs redacted.
    pub error: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
}

/// How a task ended, handed to the spawner's own bookkeeping before it is recorded.
#[derive(Debug)]
pub enum Ending<E> {
    /// It returned `Ok` once its token was cancelled.
    Stopped,
    /// It returned `Ok` before its token was cancelled.
    Unexpected,
    Failed(E),
    Panicked,
    /// Its runtime dropped it (the process is ending).
    Aborted,
}

impl<E: Display> Ending<E> {
    fn recorded(&self) -> (TaskState, Option<String>) {
        match self {
            Self::Stopped | Self::Aborted => (TaskState::Stopped, None),
            Self::Unexpected => (TaskState::Failed, Some("ended before it was asked to stop".to_owned())),
            Self::Failed(e) => {
                (TaskState::Failed, Some(scrub_urls(&e.to_string()).chars().take(ERROR_CHARS).collect()))
            }
            // The payload is not kept: a panic message may quote whatever the task held.
            Self::Panicked => (TaskState::Failed, Some("panicked".to_owned())),
        }
    }
}

struct Entry {
    record: TaskRecord,
    /// Which spawn under this name the record is of: a task replaced under the same name (a
    /// restarted follower) cannot overwrite its successor's record when it ends.
    generation: u64,
}

#[derive(Default)]
struct Board {
    entries: BTreeMap<String, Entry>,
    spawned: u64,
}

/// Every task spawned through it, by name. Clones share one board.
#[derive(Clone, Default)]
pub struct TaskBoard {
    board: Arc<Mutex<Board>>,
}

impl std::fmt::Debug for TaskBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.all().iter().map(|t| (t.name.clone(), t.state))).finish()
    }
}

impl TaskBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task` under `name` (replacing any earlier task's record of that name), watching it
    /// so that however it ends is logged, handed to `on_end` and recorded. `cancel` is the token
    /// the task stops on: an `Ok` before it is cancelled is a failure. The handle resolves once
    /// the end is recorded.
    pub fn spawn<F, E, G>(
        &self,
        name: impl Into<String>,
        cancel: CancellationToken,
        task: F,
        on_end: G,
    ) -> JoinHandle<()>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
        G: FnOnce(&Ending<E>) + Send + 'static,
    {
        let name = name.into();
        let generation = self.started(&name);
        let inner = tokio::spawn(task);
        let board = self.clone();
        tokio::spawn(async move {
            let ending = match inner.await {
                Ok(Ok(())) if cancel.is_cancelled() => Ending::Stopped,
                Ok(Ok(())) => Ending::Unexpected,
                Ok(Err(e)) => Ending::Failed(e),
                Err(e) if e.is_panic() => Ending::Panicked,
                Err(_) => Ending::Aborted,
            };
            match &ending {
                Ending::Stopped => info!(task = %name, "task stopped"),
                Ending::Unexpected => error!(task = %name, "task ended unexpectedly"),
                Ending::Failed(e) => error!(task = %name, error = %e, "task failed"),
                Ending::Panicked => error!(task = %name, "task panicked"),
                Ending::Aborted => info!(task = %name, "task aborted"),
            }
            on_end(&ending);
            board.ended(&name, generation, &ending);
        })
    }

    fn started(&self, name: &str) -> u64 {
        let mut board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        board.spawned += 1;
        let generation = board.spawned;
        let record = TaskRecord {
            name: name.to_owned(),
            state: TaskState::Running,
            error: None,
            started_at: clock::rfc3339(clock::now_ms()),
            ended_at: None,
        };
        board.entries.insert(name.to_owned(), Entry { record, generation });
        generation
    }

    fn ended<E: Display>(&self, name: &str, generation: u64, ending: &Ending<E>) {
        let mut board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = board.entries.get_mut(name).filter(|e| e.generation == generation) {
            let (state, error) = ending.recorded();
            entry.record.state = state;
            entry.record.error = error;
            entry.record.ended_at = Some(clock::rfc3339(clock::now_ms()));
        }
    }

    /// Drops the record of a task that is not meant to run any more (a removed chain's follower).
    pub fn forget(&self, name: &str) {
        self.board.lock().unwrap_or_else(PoisonError::into_inner).entries.remove(name);
    }

    /// Every task, by name.
    pub fn all(&self) -> Vec<TaskRecord> {
        let board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        board.entries.values().map(|e| e.record.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(board: &TaskBoard, name: &str) -> TaskRecord {
        board.all().into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}: {board:?}"))
    }

    #[tokio::test]
    async fn how_each_task_ends_is_recorded() {
        let board = TaskBoard::new();
        let cancel = CancellationToken::new();
        let parked = cancel.clone();
        let stops = board.spawn(
            "stops",
            cancel.clone(),
            async move {
                parked.cancelled().await;
                Ok::<_, String>(())
            },
            |_| {},
        );
        let fails = async { Err("rpc http://u:secret@node.example/key down".to_owned()) };
        let ended_early = [
            board.spawn("fails", cancel.clone(), fails, |_| {}),
            board.spawn("returns", cancel.clone(), async { Ok::<_, String>(()) }, |_| {}),
            board.spawn("panics", cancel.clone(), async { panic!("holding a secret") }, |_: &Ending<String>| {}),
        ];
        for watcher in ended_early {
            watcher.await.expect("watcher");
        }
        let failed = record(&board, "fails");
        assert_eq!(failed.state, TaskState::Failed);
        assert_eq!(failed.error.as_deref(), Some("rpc http://node.example/… down"));
        assert!(failed.ended_at.is_some());
        assert_eq!(record(&board, "returns").error.as_deref(), Some("ended before it was asked to stop"));
        let panicked = record(&board, "panics");
        assert_eq!((panicked.state, panicked.error.as_deref()), (TaskState::Failed, Some("panicked")));
        assert_eq!(record(&board, "stops").state, TaskState::Running);

        cancel.cancel();
        stops.await.expect("watcher");
        let stopped = record(&board, "stops");
        assert_eq!((stopped.state, stopped.error), (TaskState::Stopped, None));
        for name in ["fails", "returns", "panics"] {
            board.forget(name);
        }
        assert_eq!(board.all().len(), 1, "{board:?}");
    }

    #[tokio::test]
    async fn a_replaced_task_does_not_overwrite_its_successor() {
        let board = TaskBoard::new();
        let first = CancellationToken::new();
        let token = first.clone();
        let late = async move {
            token.cancelled().await;
            Err("late")
        };
        let old = board.spawn("follower-1", first.clone(), late, |_| {});
        let successor = std::future::pending::<Result<(), String>>();
        let new = board.spawn("follower-1", CancellationToken::new(), successor, |_| {});
        first.cancel();
        old.await.expect("watcher");
        let records = board.all();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].state, TaskState::Running, "{records:?}");
        drop(new);
    }
}
