//! `cargo xtask migrate [--data-dir D]`: applies pending migrations to `D/central.db`.
//!
//! It calls `parkmesh_storage::migrate`, the same ordered, transactional, version-recording path the
//! server runs at start-up, so a database prepared here is exactly what the server would create.
//! Running it twice applies nothing the second time.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `migrate`.
#[derive(Debug, Args)]
pub(crate) struct Migrate {
    /// Data directory holding central.db (created when missing); relative to the working directory.
    #[arg(long, value_name = "DIR", default_value = parkmesh_config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

impl Migrate {
    pub(crate) fn run(&self) -> anyhow::Result<()> {
        let db_path = self.data_dir.join(parkmesh_config::DB_FILE_NAME);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let applied = runtime
            .block_on(parkmesh_storage::migrate(&db_path))
            .with_context(|| format!("{}: migration failed", db_path.display()))?;
        println!("database: {}", db_path.display());
        if applied.is_empty() {
            println!("nothing to apply");
        }
        for name in &applied {
            println!("applied: {name}");
        }
        Ok(())
    }
}
