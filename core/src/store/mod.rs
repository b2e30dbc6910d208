//! The database: SQLite (a file, the embedded default) or PostgreSQL, through one set of SQL
//! statements. Every state change and the outbox rows it causes are written in one transaction.

mod column;
mod counters;
pub mod credits;
pub mod cursors;
pub mod destinations;
mod feed;
mod filter;
pub mod leases;
pub mod ledger;
pub mod outbound;
pub mod outbox;
pub mod payments;
pub mod payouts;
pub mod quotes;
pub mod rails;
pub mod receipts;
mod registry;
pub mod thresholds;

#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor};
use tokio::sync::Notify;

pub use feed::FeedEvent;
pub use outbox::{ClaimRoom, DeliveryStatus, DueDelivery};
pub use payments::{Changed, NewPayment, Payment, Rail};

/// An open database transaction.
pub type Tx = sqlx::Transaction<'static, Any>;

/// Which engine is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A failed database operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    #[error("event body could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// A payment change the model refuses.
    #[error(transparent)]
    Change(#[from] crate::change::ChangeError),
}

impl StoreError {
    /// A unique constraint refused the write (a concurrent request won).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// Worth retrying: the database was busy or a serialization conflict happened.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => true,
            Self::Db(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("5" | "6" | "517" | "40001" | "40P01"))
            }
            _ => false,
        }
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Reads a text column and parses it into its domain type; a value that does not parse is corrupt.
pub(crate) fn parse_column<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| corrupt(format!("column {column} `{text}`: {e}")))
}

/// The database handle: a connection pool, the backend it speaks to, and the webhook targets that
/// every new outbox event is delivered to.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    targets: Arc<[String]>,
    outbox_signal: Arc<Notify>,
}

static DRIVERS: Once = Once::new();

impl Store {
    /// Connects, creating a SQLite file if needed, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (backend, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
            (Backend::Sqlite, url)
        } else {
            (Backend::Postgres, url.to_owned())
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(if url.contains(":memory:") { 1 } else { 8 })
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
        }
        Ok(Self { pool, backend, targets: Arc::from(Vec::new()), outbox_signal: Arc::new(Notify::new()) })
    }

    /// Sets the webhook targets that events written from now on are delivered to.
    pub fn with_webhook_targets(mut self, targets: Vec<String>) -> Self {
        self.targets = Arc::from(targets);
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Woken when an outbox event commits in this process.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so that a transaction that reads and then writes waits for other writers instead of failing.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Commits a transaction that wrote outbox events and wakes the dispatcher.
    pub async fn commit_with_events(&self, tx: Tx) -> Result<(), StoreError> {
        tx.commit().await?;
        self.outbox_signal.notify_waiters();
        Ok(())
    }

    /// Round-trips the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
