//! A store of its own for each test: a fresh SQLite file, or a fresh PostgreSQL database
//! (`PAYSCAN_TEST_POSTGRES`, else the local server) dropped afterwards.

use std::ops::Deref;
use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

use crate::store::{Backend, Store};

/// Runs `$name(backend)` as `$name::sqlite` and `$name::postgres`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::store::Backend::Sqlite).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::store::Backend::Postgres).await
                }
            }
        )*
    };
}
pub(super) use both_backends;

fn unique() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn postgres_admin_url() -> String {
    std::env::var("PAYSCAN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A migrated store on a database no other test uses; the database goes when this is dropped.
pub(super) struct TestStore {
    store: Store,
    sqlite: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestStore {
    pub(super) async fn fresh(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("payscan-core-{}.db", unique()));
                let store = Store::connect(&format!("sqlite://{}", path.display())).await.expect("SQLite store");
                Self { store, sqlite: Some(path), postgres: None }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("payscan_core_{}", unique());
                let mut conn = PgConnection::connect(&admin).await.expect("PostgreSQL at 127.0.0.1:5432");
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
                conn.close().await.expect("close admin connection");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
                let store = Store::connect(&format!("{base}/{name}")).await.expect("PostgreSQL store");
                Self { store, sqlite: None, postgres: Some((admin, name)) }
            }
        }
    }

    /// The same database, delivering new events to `targets`.
    pub(super) fn with_targets(mut self, targets: &[&str]) -> Self {
        self.store = self.store.clone().with_webhook_targets(targets.iter().map(|t| (*t).to_owned()).collect());
        self
    }
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(path) = self.sqlite.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime: the async cleanup gets a thread of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime
                    .block_on(async {
                        let mut conn = PgConnection::connect(&admin).await?;
                        conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
                        Ok::<_, sqlx::Error>(())
                    })
                    .map_err(std::io::Error::other)
            })
            .join();
        }
    }
}
