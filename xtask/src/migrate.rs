//! `cargo xtask migrate [--data-dir D | --database-url URL]`: applies pending migrations to
//! `D/central.db` (SQLite, `migrations/`) or to the PostgreSQL database at URL
//! (`migrations/postgres/`).
//!
//! It calls `parkmesh_storage::migrate` / `parkmesh_storage::postgres_migrate`, the same ordered,
//! transactional, version-recording paths the server runs at start-up, so a database prepared
//! here is exactly what the server would create. Running it twice applies nothing the second time.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `migrate`.
#[derive(Debug, Args)]
pub(crate) struct Migrate {
    /// Data directory holding central.db (created when missing); relative to the working directory.
    #[arg(long, value_name = "DIR", default_value = parkmesh_config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// A PostgreSQL database instead (postgres://user@host:port/dbname; the database must exist).
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    database_url: Option<String>,
}

impl Migrate {
    pub(crate) fn run(&self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let (database, applied) = match &self.database_url {
            Some(url) => (
                format!("PostgreSQL {}", parkmesh_storage::postgres_target(url)),
                runtime
                    .block_on(parkmesh_storage::postgres_migrate(url))
                    .context("migration failed")?,
            ),
            None => {
                let db_path = self.data_dir.join(parkmesh_config::DB_FILE_NAME);
                let applied = runtime
                    .block_on(parkmesh_storage::migrate(&db_path))
                    .with_context(|| format!("{}: migration failed", db_path.display()))?;
                (db_path.display().to_string(), applied)
            }
        };
        println!("database: {database}");
        if applied.is_empty() {
            println!("nothing to apply");
        }
        for name in &applied {
            println!("applied: {name}");
        }
        Ok(())
    }
}
