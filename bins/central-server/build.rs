//! Records the git commit and the build date for `central-server --version`, `/api/p2p/status`
//! and `parkmesh_build_info`.
//!
//! The commit comes from `PARKMESH_COMMIT` when set, else from `git` when the workspace is a
//! checkout, else from `git-commit.txt`, which `git archive` fills in (`export-subst` in
//! `.gitattributes`) so that a source tarball without `.git` still names its commit, else
//! `unknown`. The date is `SOURCE_DATE_EPOCH` when set (reproducible builds), else today (UTC).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PARKMESH_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let workspace = Path::new(&manifest).join("../..");
    let commit = std::env::var("PARKMESH_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git_commit(&workspace))
        .or_else(|| archived_commit(Path::new(&manifest)))
        .unwrap_or_else(|| "unknown".to_owned());
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    println!("cargo:rustc-env=PARKMESH_COMMIT={}", commit.trim());
    println!("cargo:rustc-env=PARKMESH_BUILD_DATE={}", date(secs));
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The abbreviated commit of the checkout that `workspace` is the top of (not of an enclosing
/// repository a source tarball was unpacked into), with `-dirty` for local changes; asks cargo
/// to run this again when HEAD or its branch moves.
fn git_commit(workspace: &Path) -> Option<String> {
    let top = git(workspace, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if !same(Path::new(&top), workspace) {
        return None;
    }
    for name in ["HEAD", "packed-refs"] {
        if let Some(p) = git(workspace, &["rev-parse", "--git-path", name]) {
            println!("cargo:rerun-if-changed={}", workspace.join(p).display());
        }
    }
    if let Some(branch) = git(workspace, &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(workspace, &["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={}", workspace.join(p).display());
    }
    let commit = git(workspace, &["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(
        workspace,
        &["status", "--porcelain", "--untracked-files=no"],
    )
    .is_some();
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// The commit `git archive` wrote into `git-commit.txt` (abbreviated); `None` in a checkout,
/// where the file still holds its placeholder.
fn archived_commit(manifest: &Path) -> Option<String> {
    let path = manifest.join("git-commit.txt");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(path).ok()?;
    let commit = text.trim();
    let hex = !commit.is_empty() && commit.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| commit.chars().take(12).collect())
}

/// `YYYY-MM-DD` (UTC) of a Unix time, by the civil-from-days algorithm.
fn date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
