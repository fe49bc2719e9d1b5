//! Style checks over the whole workspace, run by `cargo test` (rust-analyzer's `tidy.rs`).
//!
//! `tidy` walks the sources once and fails listing every violation of:
//!
//! - every `.rs` file under `crates/`, `bins/` and `xtask/` opens with a `//!` doc comment;
//! - the pure crates (`protocol`, `parking`, `replication`) list no runtime, database, web or
//!   socket crate (`tokio`, `sqlx`, `warp`, `tungstenite`) in any dependency table of their manifest,
//!   and read no clock in their sources (time is passed in);
//! - no `println!`/`eprintln!` (nor `print!`/`eprint!`) in library sources `crates/*/src`;
//! - no should-panic tests anywhere: assert the wrong behaviour with a FIXME instead;
//! - no trailing whitespace in `.rs` files.
//!
//! Each check is a plain function over file text, tested on small inputs below the walker.

use std::fs;
use std::path::{Path, PathBuf};

/// Crates that must stay free of IO: time and randomness are passed in.
const PURE_CRATES: &[&str] = &["protocol", "parking", "replication"];
/// Dependency names (or parts of names) the pure crates must not use.
const FORBIDDEN_IN_PURE: &[&str] = &["tokio", "sqlx", "warp", "tungstenite"];
/// Clock reads the pure crates must not make.
const CLOCK_CALLS: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "Utc::now",
    "Timestamp::now",
    "Zoned::now",
];
/// Printing macros banned in library code (libraries log through `tracing`).
const PRINT_MACROS: &[&str] = &["println!", "eprintln!", "print!", "eprint!"];
/// Spelled in two halves so this file does not trip its own check.
const SHOULD_PANIC: &str = concat!("#[should", "_panic");

/// The workspace root (the parent of this crate's directory).
fn project_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

#[test]
fn tidy() {
    let root = project_root();
    let mut violations = Vec::new();
    let mut files = Vec::new();
    for top in ["crates", "bins", "xtask"] {
        collect_files(&root.join(top), &mut files);
    }
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        if rel.ends_with(".rs") {
            let text = fs::read_to_string(path).unwrap_or_default();
            let in_lib_src = rel.starts_with("crates/") && rel.split('/').nth(2) == Some("src");
            let pure = PURE_CRATES
                .iter()
                .any(|c| rel.starts_with(&format!("crates/{c}/src/")));
            violations.extend(check_rust_file(&rel, &text, in_lib_src, pure));
        } else if rel.ends_with("Cargo.toml")
            && PURE_CRATES
                .iter()
                .any(|c| rel == format!("crates/{c}/Cargo.toml"))
        {
            let text = fs::read_to_string(path).unwrap_or_default();
            violations.extend(check_pure_manifest(&rel, &text));
        }
    }
    assert!(
        files.len() > 10,
        "tidy found only {} files under {}",
        files.len(),
        root.display()
    );
    assert!(
        violations.is_empty(),
        "tidy found {} problem(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// Every `.rs` file and `Cargo.toml` under `dir`, skipping build output and hidden directories.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect_files(&path, out);
            }
        } else if name.ends_with(".rs") || name == "Cargo.toml" {
            out.push(path);
        }
    }
}

/// Checks one Rust source file; `lib_src` marks library code, `pure` the pure crates' sources.
fn check_rust_file(rel: &str, text: &str, lib_src: bool, pure: bool) -> Vec<String> {
    let mut found = Vec::new();
    if !text.starts_with("//!") {
        found.push(format!(
            "{rel}: does not start with a `//!` doc comment saying what the file is for"
        ));
    }
    for (idx, line) in text.lines().enumerate() {
        let at = format!("{rel}:{}", idx + 1);
        if line.ends_with(' ') || line.ends_with('\t') {
            found.push(format!("{at}: trailing whitespace"));
        }
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if code.contains(SHOULD_PANIC) {
            found.push(format!(
                "{at}: should_panic test — assert the wrong behaviour with a FIXME instead"
            ));
        }
        if lib_src && let Some(mac) = PRINT_MACROS.iter().find(|m| calls_macro(code, m)) {
            found.push(format!(
                "{at}: `{mac}` in library code — log with `tracing` instead"
            ));
        }
        if pure && let Some(call) = CLOCK_CALLS.iter().find(|c| code.contains(*c)) {
            found.push(format!(
                "{at}: `{call}` in a pure crate — take the time as an argument"
            ));
        }
    }
    found
}

/// Whether `code` invokes `mac` (e.g. `print!`) as a macro of its own, not as the tail of a longer
/// name such as `eprint!` or `my_print!`.
fn calls_macro(code: &str, mac: &str) -> bool {
    code.match_indices(mac).any(|(pos, _)| {
        let before = code[..pos].chars().next_back();
        let after = code[pos + mac.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && after.is_some_and(|c| matches!(c, '(' | '[' | '{'))
    })
}

/// Checks a pure crate's manifest: no forbidden crate in any dependency table.
fn check_pure_manifest(rel: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_deps = false;
    for (idx, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']');
            // `[dependencies]`, `[dev-dependencies]`, `[target.'cfg(..)'.dependencies]`, or
            // `[dependencies.tokio]`, where the crate is named in the header itself.
            let table = header.split('.').map(str::trim).collect::<Vec<_>>();
            in_deps = table.iter().any(|part| part.ends_with("dependencies"));
            let named = table
                .iter()
                .skip_while(|p| !p.ends_with("dependencies"))
                .nth(1);
            if let Some(dep) = named.filter(|d| is_forbidden(d)) {
                found.push(format!(
                    "{rel}:{}: depends on `{dep}`, which a pure crate must not",
                    idx + 1
                ));
            }
            continue;
        }
        if !in_deps || line.is_empty() {
            continue;
        }
        let key = line
            .split(['=', '.'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        let package = line
            .split("package")
            .nth(1)
            .and_then(|rest| rest.split('"').nth(1))
            .unwrap_or("");
        for name in [key, package] {
            if is_forbidden(name) {
                found.push(format!(
                    "{rel}:{}: depends on `{name}`, which a pure crate must not",
                    idx + 1
                ));
            }
        }
    }
    found
}

fn is_forbidden(name: &str) -> bool {
    !name.is_empty() && FORBIDDEN_IN_PURE.iter().any(|bad| name.contains(bad))
}

#[test]
fn doc_comment_and_whitespace_checks() {
    assert!(check_rust_file("a.rs", "//! Doc.\nfn f() {}\n", false, false).is_empty());
    let found = check_rust_file("a.rs", "// not a doc\nfn f() {} \n", false, false);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("`//!`") && found[1].contains("a.rs:2: trailing whitespace"),
        "{found:?}"
    );
}

#[test]
fn print_checks_apply_to_library_code_only() {
    let text = "//! Doc.\nfn f() { println!(\"x\"); }\n// eprintln!(\"in a comment\")\n";
    let found = check_rust_file("crates/x/src/lib.rs", text, true, false);
    assert_eq!(
        found,
        ["crates/x/src/lib.rs:2: `println!` in library code — log with `tracing` instead"]
    );
    assert!(check_rust_file("bins/b/src/main.rs", text, false, false).is_empty());
    assert!(calls_macro("eprint!(\"x\")", "eprint!"));
    assert!(!calls_macro("eprint!(\"x\")", "print!"));
    assert!(!calls_macro("let s = \"print!\";", "print!"));
}

#[test]
fn should_panic_and_clock_checks() {
    let text =
        format!("//! Doc.\n{SHOULD_PANIC}]\nfn t() {{ let _ = std::time::Instant::now(); }}\n");
    let found = check_rust_file("crates/replication/src/x.rs", &text, true, true);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains(":2: should_panic"), "{found:?}");
    assert!(
        found[1].contains(":3: `Instant::now` in a pure crate"),
        "{found:?}"
    );
    assert_eq!(
        check_rust_file("crates/storage/src/x.rs", &text, true, false).len(),
        1
    );
}

#[test]
fn manifest_checks() {
    let clean = "[package]\nname = \"tokio-free\"\n[dependencies]\nserde.workspace = true\n";
    assert!(check_pure_manifest("Cargo.toml", clean).is_empty());
    let dirty = "[dependencies]\nserde = \"1\"\ntokio.workspace = true\n\n[dev-dependencies]\n\
                 ws = { package = \"tokio-tungstenite\", version = \"0.29\" }\n\
                 [target.'cfg(unix)'.dependencies]\nsqlx = \"0.9\"\n[dependencies.warp]\nversion = \"0.4\"\n";
    let found = check_pure_manifest("Cargo.toml", dirty);
    let lines: Vec<&str> = found
        .iter()
        .map(|f| f.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        [
            "Cargo.toml:3",
            "Cargo.toml:6",
            "Cargo.toml:8",
            "Cargo.toml:9"
        ],
        "{found:?}"
    );
}
