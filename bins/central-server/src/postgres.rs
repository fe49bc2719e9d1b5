//! A central configured with `"storage": {"backend": "postgres"}`, in a build whose PostgreSQL
//! backend serves no central yet.
//!
//! What this build does with such a configuration is real: the start connects, applies the
//! PostgreSQL schema (`migrations/postgres/`) and then stops with one line saying that serving
//! from PostgreSQL is not in this build; `check-config` checks the connection, the rights and the
//! schema; `backup` and `restore` say in one line how to do it with `pg_dump` / `pg_restore`
//! (the database server's own tools). Nothing here pretends to serve.

use std::path::Path;

use anyhow::bail;
use parkmesh_config::{Config, StorageBackend};

/// What a PostgreSQL-configured central cannot do in this build, said once for every command.
const NOT_SERVED: &str = "this build applies the PostgreSQL schema and checks the connection (check-config, cargo xtask migrate --database-url) but serves a central from SQLite only — set \"storage\": {\"backend\": \"sqlite\"} to run it";

/// The database URL when the configuration names PostgreSQL.
pub(crate) fn url(config: &Config) -> Option<&str> {
    match config.storage_backend() {
        StorageBackend::Sqlite => None,
        StorageBackend::Postgres => config.database_url(),
    }
}

/// The start of a PostgreSQL-configured central: connects, applies the schema, then refuses to
/// serve (one line naming why). Any problem with the database (bad URL, unreachable server,
/// refused login, missing rights) is that line instead.
pub(crate) async fn start(config: &Config, url: &str) -> anyhow::Result<()> {
    let target = parkmesh_storage::postgres_target(url);
    let applied = parkmesh_storage::postgres_migrate(url).await?;
    tracing::info!(
        database = %target,
        applied = applied.len(),
        "PostgreSQL schema current"
    );
    bail!(
        "{}: storage.backend is \"postgres\" ({target}, schema current): {NOT_SERVED}",
        config.this_central().id
    )
}

/// Refuses a command that works on the SQLite file (the import) for a PostgreSQL central.
pub(crate) fn refuse_sqlite_only(config: &Config, what: &str) -> anyhow::Result<()> {
    if let Some(url) = url(config) {
        bail!(
            "{}: {what} writes the SQLite database, but storage.backend is \"postgres\" ({}): {NOT_SERVED}",
            config.this_central().id,
            parkmesh_storage::postgres_target(url)
        );
    }
    Ok(())
}

/// `backup FILE` of a PostgreSQL central: the one line saying how, with `pg_dump` (no file is
/// written; the exit code is non-zero so that a scheduled backup does not look taken).
pub(crate) fn backup_hint(config: &Config, url: &str, file: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} keeps its data in PostgreSQL: back it up with the server's own tool, e.g. pg_dump --format=custom --file={} '{}' (a consistent snapshot while the central runs; give the password in PGPASSWORD or ~/.pgpass)",
        config.this_central().id,
        shell_word(&file.display().to_string()),
        parkmesh_storage::postgres_url_without_password(url)
    )
}

/// `restore FILE` of a PostgreSQL central: the one line saying how, with `pg_restore`.
pub(crate) fn restore_hint(config: &Config, url: &str, file: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} keeps its data in PostgreSQL: with the central stopped, restore a pg_dump copy with pg_restore --clean --if-exists --dbname='{}' {}",
        config.this_central().id,
        parkmesh_storage::postgres_url_without_password(url),
        shell_word(&file.display().to_string())
    )
}

/// `text` quoted for a POSIX shell when it holds anything but plain path characters.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn paths_are_quoted_for_the_shell_when_needed() {
        assert_eq!(shell_word("/var/backups/a.dump"), "/var/backups/a.dump");
        assert_eq!(shell_word("my backups/a.dump"), "'my backups/a.dump'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
