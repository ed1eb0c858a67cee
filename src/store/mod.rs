//! The embedded store: a SQLite database in the state directory.
//!
//! All writes go through one writer thread that groups whatever is queued into
//! a single transaction and fsyncs once (group commit), so a burst of webhooks
//! costs one disk flush, not one each; a caller is answered only after its
//! write is durable. Reads use their own connections (WAL lets them run beside
//! the writer). Other modules keep their own tables and queries in files here
//! and run them through [`Store::write`] and [`Store::read`].

pub mod facts;
pub mod inbox;
pub mod outbox;
pub mod rollout;
pub mod sync_state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "slipway.db";
/// Most writes grouped into one transaction.
const MAX_BATCH: usize = 1024;
/// Writes waiting for the writer thread before callers wait for room.
const QUEUE_DEPTH: usize = 8192;
/// Read connections kept open.
const READERS: usize = 4;
/// How long a connection waits on a lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory could not be created.
    #[error("create state dir {path}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("open database {path}")]
    Open {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("query")]
    Query(#[from] rusqlite::Error),
    /// The commit of a grouped write failed; nothing in the group was stored.
    #[error("commit")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// Stored JSON no longer parses (a downgrade, or a damaged file).
    #[error("decode stored {what}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The writer thread has stopped (the process is shutting down).
    #[error("store writer stopped")]
    WriterGone,
    /// The group this write was in could not begin a transaction; nothing was stored.
    #[error("store transaction aborted")]
    Aborted,
    /// A blocking read task panicked or was cancelled.
    #[error("store reader stopped")]
    ReaderGone,
}

/// A write to run inside the writer's transaction. It returns the function
/// that answers its caller once the commit outcome is known.
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Option<&Arc<rusqlite::Error>>) + Send>;

/// The store handle: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Vec<Mutex<Connection>>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (or create) the store in `state_dir`, migrate it and start the writer thread.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::CreateDir {
            path: state_dir.display().to_string(),
            source,
        })?;
        let path = state_dir.join(DB_FILE);
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let writer = Connection::open(&path).map_err(open_err)?;
        writer
            .busy_timeout(BUSY_TIMEOUT)
            .and_then(|_| {
                // FULL: the WAL is fsynced at every commit, so an answered write survives power loss.
                writer.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            })
            .and_then(|_| migrate(&writer))
            .map_err(open_err)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(open_err)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
            readers.push(Mutex::new(conn));
        }
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run_writer(writer, queue))
            .map_err(|source| StoreError::CreateDir {
                path: "store writer thread".into(),
                source,
            })?;
        Ok(Store {
            jobs,
            readers: Arc::new(readers),
            path,
        })
    }

    /// Run `f` in the next grouped transaction; answer once it is durable.
    /// If `f` fails, its own changes are rolled back and the group goes on.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn: &Connection| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit_error: Option<&Arc<rusqlite::Error>>| {
                let outcome = match commit_error {
                    Some(e) => Err(StoreError::Commit(e.clone())),
                    None => result,
                };
                let _ = answer.send(outcome);
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answered.await.map_err(|_| StoreError::Aborted)?
    }

    /// Run a read on one of the read connections, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            // Take whichever reader is free; wait on the first one otherwise.
            let guard = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .unwrap_or_else(|| readers[0].lock().unwrap_or_else(|p| p.into_inner()));
            f(&guard)
        })
        .await
        .map_err(|_| StoreError::ReaderGone)?
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    let result = f(conn);
    match &result {
        Ok(_) => conn.execute_batch("RELEASE job")?,
        Err(_) => conn.execute_batch("ROLLBACK TO job; RELEASE job")?,
    }
    result
}

fn run_writer(mut conn: Connection, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => {
                let completions: Vec<Completion> = batch.drain(..).map(|job| job(&tx)).collect();
                let error = tx.commit().err().map(Arc::new);
                finish(completions, error.as_ref());
            }
            Err(e) => {
                // Dropping the jobs unrun answers their callers with `Aborted`.
                tracing::error!(error = %e, "store transaction failed to begin");
                batch.clear();
            }
        }
    }
}

fn finish(completions: Vec<Completion>, error: Option<&Arc<rusqlite::Error>>) {
    if let Some(e) = error {
        tracing::error!(error = %e, "store commit failed");
    }
    for complete in completions {
        complete(error);
    }
}

/// Schema migrations, applied in order; `PRAGMA user_version` records the last.
const MIGRATIONS: &[&str] = &[
    inbox::SCHEMA,
    facts::SCHEMA,
    sync_state::SCHEMA,
    facts::RUN_CLOCK_SCHEMA,
    inbox::NOT_BEFORE,
    outbox::SCHEMA,
    sync_state::OWNED_FORM,
];

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// Current time as RFC 3339 UTC, as stored.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_write_rolls_back_alone_and_the_group_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|c| Ok(c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")?))
            .await
            .unwrap();
        let (a, b, c) = tokio::join!(
            store.write(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?)),
            store.write(|c| {
                c.execute("INSERT INTO t VALUES (2)", [])?;
                Ok(c.execute("INSERT INTO t VALUES (1)", [])?)
            }),
            store.write(|c| Ok(c.execute("INSERT INTO t VALUES (3)", [])?)),
        );
        assert!(a.is_ok() && c.is_ok());
        assert!(b.is_err(), "the duplicate insert fails");
        let values: Vec<i64> = store
            .read(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = s.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(
            values,
            vec![1, 3],
            "the failed job's first insert was rolled back"
        );
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_does_not_rerun_migrations() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .write(|c| Ok(c.execute_batch("CREATE TABLE kept (v INTEGER)")?))
                .await
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        let tables: i64 = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name='kept'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(tables, 1);
    }
}
