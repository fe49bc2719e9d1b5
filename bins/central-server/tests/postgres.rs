//! A central configured with `"storage": {"backend": "postgres"}`, against a real PostgreSQL
//! cluster: the schema of `migrations/postgres/` applies once (also when two processes race),
//! `check-config` checks a good URL, a bad one, an unreachable server, a missing database and a
//! role without rights, each failure in one line; the start applies the schema and then refuses
//! to serve (this build serves from SQLite only); `backup` and `restore` say how with
//! `pg_dump` / `pg_restore`; `import-parkai` refuses.
//!
//! The cluster's superuser URL comes from `PARKMESH_TEST_PG_URL` (`eval "$(.ci/pg start)"`
//! starts a throwaway cluster and exports it). Without it each test says it was skipped; under
//! `CI=true` it fails instead. Each test works in a database (and roles) of its own.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

/// Tables of the PostgreSQL schema (and the migrations' record).
const TABLES: &[&str] = &[
    "_migrations",
    "cameras",
    "conflicts",
    "edge_requests",
    "edited_plates",
    "events",
    "history",
    "history_changes",
    "meta",
    "report_days",
    "report_marks",
    "report_state",
    "settings",
    "settled_points",
    "streams",
    "zones",
];

const ADMIN_TOKEN: &str = "a-long-enough-admin-token-for-tests";

/// The cluster's superuser URL, or `None` (with a notice) where no cluster runs; CI never skips.
/// The notice goes to the process's stderr directly, past the test harness's capture, so that a
/// plain `cargo test` shows which tests did not run.
fn cluster(test: &str) -> Option<String> {
    match std::env::var("PARKMESH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PARKMESH_TEST_PG_URL is not set on CI: .ci/run starts a cluster with .ci/pg"
            );
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: PARKMESH_TEST_PG_URL is not set (start a throwaway cluster with: eval \"$(.ci/pg start)\")"
            );
            None
        }
    }
}

/// `url` with its user and database replaced (the host, port and query stay).
fn with(url: &str, user: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{user}@{host}/{db}{query}")
}

/// A database of the test's own (dropped first if a previous run left it); returns its URL.
async fn fresh_db(admin: &str, name: &str) -> String {
    let name = format!("pm_{name}_{}", std::process::id());
    let mut conn = PgConnection::connect(admin).await.unwrap();
    // One statement each: neither may run inside a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    with(admin, "postgres", &name)
}

/// A login role without any rights beyond connecting (PostgreSQL 15 lets no one but the owner
/// create in `public`); returns its name.
async fn role_without_rights(admin: &str, name: &str) -> String {
    let role = format!("pm_{name}_{}", std::process::id());
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    role
}

/// The tables of `url`'s database, sorted.
async fn tables(url: &str) -> Vec<String> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    names
}

/// Rows of `_migrations`.
async fn migrations_recorded(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM _migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

/// A config file in `dir` for central `id` on PostgreSQL at `url` (no `url` key when `None`).
fn config(dir: &Path, id: &str, url: Option<&str>) -> std::path::PathBuf {
    let mut storage = json!({"backend": "postgres"});
    if let Some(url) = url {
        storage["url"] = json!(url);
    }
    let (api, p2p) = (common::free_port(), common::free_port());
    common::write_config(
        dir,
        id,
        api,
        p2p,
        json!({"storage": storage, "admin_token": ADMIN_TOKEN}),
    )
}

/// Runs `central-server ARGS --config CONFIG` with `env` to completion (killed after two
/// minutes: a start that serves instead of refusing fails here); returns (code, stdout, stderr).
fn run(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_central-server"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("PARKMESH_DATABASE_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still running after 2 minutes: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must fail with `code` and exactly one line on stderr; returns it.
fn fails(config: &Path, args: &[&str], env: &[(&str, &str)], code: i32) -> String {
    let (got, _out, err) = run(config, args, env);
    assert_eq!(got, code, "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line: {err:?}");
    assert!(lines[0].starts_with("central-server: "), "{err}");
    lines[0].to_owned()
}

/// `check-config --json`: (exit code, the `database` check's result and detail).
fn check_database(config: &Path) -> (i32, String, String) {
    let (code, out, err) = run(config, &["check-config", "--json"], &[]);
    let json: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("check-config: not JSON ({e}): {out} {err}"));
    let db = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "database")
        .unwrap_or_else(|| panic!("no database check: {json}"));
    (
        code,
        db["result"].as_str().unwrap().to_owned(),
        db["detail"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_also_when_two_race() {
    let Some(admin) = cluster("migrations_apply_once_also_when_two_race") else {
        return;
    };
    let url = fresh_db(&admin, "migrate").await;
    assert_eq!(
        parkmesh_storage::postgres_migrate(&url).await.unwrap(),
        ["0001_init"]
    );
    assert_eq!(tables(&url).await, TABLES);
    assert!(
        parkmesh_storage::postgres_migrate(&url)
            .await
            .unwrap()
            .is_empty(),
        "the second run applies nothing"
    );
    assert_eq!(migrations_recorded(&url).await, 1);

    // Two processes migrating one new database at once: the schema is applied exactly once.
    let url = fresh_db(&admin, "migrate_race").await;
    let (a, b) = tokio::join!(
        parkmesh_storage::postgres_migrate(&url),
        parkmesh_storage::postgres_migrate(&url)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 1, "{a:?} {b:?}");
    assert_eq!(tables(&url).await, TABLES);
    assert_eq!(migrations_recorded(&url).await, 1);

    // The report marks are kept by triggers, as in the SQLite layout.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO conflicts (plate_key, kind, winner, losers, at_ms)
              VALUES ('51A12345', 'concurrent_entry', 'a:1:1', '[]', 3 * 86400000 + 5);
         INSERT INTO history (session_id, plate_key, plate_id, plate_view, entry_ms, exit_ms,
                              status, sync_status, created_at, updated_at)
              VALUES ('a:1:2', '51A12345', '51A12345', '51A-123.45', 7 * 86400000,
                      9 * 86400000 + 1, 'OUT', 'synced', 'now', 'now');
         DELETE FROM history; DELETE FROM conflicts;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let marks: Vec<i64> = sqlx::query_scalar("SELECT uday FROM report_marks ORDER BY uday")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(marks, [3, 7, 9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_names_each_database_problem() {
    let Some(admin) = cluster("check_config_names_each_database_problem") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_db(&admin, "check").await;

    // A good URL before the first start: connected, the schema still to apply.
    let good = config(dir.path(), "central-pg", Some(&url));
    let (code, result, detail) = check_database(&good);
    assert_eq!((code, result.as_str()), (0, "ok"), "{detail}");
    assert!(detail.contains("1 migration to apply"), "{detail}");
    // After the schema is applied: current.
    parkmesh_storage::postgres_migrate(&url).await.unwrap();
    let (code, result, detail) = check_database(&good);
    assert_eq!((code, result.as_str()), (0, "ok"), "{detail}");
    assert!(detail.contains("schema current"), "{detail}");

    // A URL that does not parse (a port that is not a number); its password never shows.
    let bad = config(
        dir.path(),
        "central-pg",
        Some("postgres://app:s3cret-pw@127.0.0.1:notaport/x"),
    );
    let (code, result, detail) = check_database(&bad);
    assert_eq!((code, result.as_str()), (1, "FAIL"), "{detail}");
    assert!(detail.contains("bad URL"), "{detail}");
    assert!(!detail.contains("s3cret-pw"), "{detail}");
    // Not a PostgreSQL URL at all: the configuration itself does not load (exit 2).
    let (code, out, _) = run(
        &config(dir.path(), "central-pg", Some("mysql://root@db/x")),
        &["check-config", "--json"],
        &[],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("storage.url") && out.contains("not a PostgreSQL URL"),
        "{out}"
    );

    // Nothing listens there.
    let port = common::free_port();
    let down = format!("postgres://postgres@127.0.0.1:{port}/x");
    let (code, result, detail) = check_database(&config(dir.path(), "central-pg", Some(&down)));
    assert_eq!((code, result.as_str()), (1, "FAIL"), "{detail}");
    assert!(detail.contains("cannot reach the server"), "{detail}");

    // A database that does not exist.
    let missing = with(&admin, "postgres", "pm_no_such_database");
    let (code, result, detail) = check_database(&config(dir.path(), "central-pg", Some(&missing)));
    assert_eq!((code, result.as_str()), (1, "FAIL"), "{detail}");
    assert!(detail.contains("does not exist"), "{detail}");

    // A role without rights: it may not create the schema in a new database, nor read and
    // write the tables of a migrated one.
    let role = role_without_rights(&admin, "norights").await;
    let fresh = fresh_db(&admin, "check_fresh").await;
    let db_of = |u: &str| {
        u.split('?')
            .next()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let weak_fresh = with(&admin, &role, &db_of(&fresh));
    let (code, result, detail) =
        check_database(&config(dir.path(), "central-pg", Some(&weak_fresh)));
    assert_eq!((code, result.as_str()), (1, "FAIL"), "{detail}");
    assert!(
        detail.contains("missing rights") && detail.contains("may not create"),
        "{detail}"
    );
    let weak_migrated = with(&admin, &role, &db_of(&url));
    let (code, result, detail) =
        check_database(&config(dir.path(), "central-pg", Some(&weak_migrated)));
    assert_eq!((code, result.as_str()), (1, "FAIL"), "{detail}");
    assert!(
        detail.contains("missing rights") && detail.contains("events"),
        "{detail}"
    );
    // The start with that role fails with the same kind of line, before anything is written.
    let line = fails(
        &config(dir.path(), "central-pg", Some(&weak_fresh)),
        &[],
        &[],
        1,
    );
    assert!(line.contains("missing rights"), "{line}");
    assert!(
        tables(&fresh).await.is_empty(),
        "{:?}",
        tables(&fresh).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_central_applies_its_schema_then_refuses_to_serve() {
    let Some(admin) = cluster("a_postgres_central_applies_its_schema_then_refuses_to_serve") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_db(&admin, "start").await;
    // The URL comes from the environment, over an unreachable one in the file.
    let port = common::free_port();
    let file_url = format!("postgres://postgres@127.0.0.1:{port}/x");
    let cfg = config(dir.path(), "central-pg", Some(&file_url));
    let env = [("PARKMESH_DATABASE_URL", url.as_str())];
    for _ in 0..2 {
        let line = fails(&cfg, &[], &env, 1);
        assert!(
            line.contains("storage.backend is \"postgres\"")
                && line.contains("schema current")
                && line.contains("serves a central from SQLite only"),
            "{line}"
        );
    }
    assert_eq!(tables(&url).await, TABLES, "the start applied the schema");
    assert_eq!(
        migrations_recorded(&url).await,
        1,
        "the second start applied nothing"
    );
    assert!(
        !dir.path().join("data").exists(),
        "no SQLite database was opened instead"
    );

    // Without the environment the file's unreachable URL is used: one line naming it.
    let line = fails(&cfg, &[], &[], 1);
    assert!(line.contains("cannot reach the server"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_say_how_with_the_servers_tools() {
    let Some(admin) = cluster("backup_and_restore_say_how_with_the_servers_tools") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_db(&admin, "backup").await;
    let with_password = url.replacen("postgres@", "postgres:pw-not-shown@", 1);
    let cfg = config(dir.path(), "central-pg", Some(&with_password));
    let target = dir.path().join("central-pg.dump");
    let target_arg = target.to_string_lossy().into_owned();

    let line = fails(&cfg, &["backup", &target_arg], &[], 1);
    assert!(
        line.contains("pg_dump --format=custom") && line.contains(&target_arg),
        "{line}"
    );
    assert!(!line.contains("pw-not-shown"), "{line}");
    assert!(!target.exists(), "no file is written");

    let line = fails(&cfg, &["restore", &target_arg], &[], 1);
    assert!(line.contains("pg_restore"), "{line}");
    assert!(!line.contains("pw-not-shown"), "{line}");

    let original = dir.path().join("parkai.db");
    std::fs::write(&original, b"").unwrap();
    let line = fails(
        &cfg,
        &["import-parkai", "--from", &original.to_string_lossy()],
        &[],
        1,
    );
    assert!(
        line.contains("import-parkai writes the SQLite database"),
        "{line}"
    );
    assert!(!dir.path().join("data").exists());
}
