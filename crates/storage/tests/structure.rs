//! The storage crate's module structure: no two of its modules import each other, directly or
//! in a loop. A module is a file or folder directly under `src/`; it imports another when its
//! code (comments aside) names `crate::other`. The crate root (`lib.rs`) is the facade that
//! declares them all and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The code of `path` without its `//` comments (doc comments name modules in prose).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `.rs` file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules of the crate and, for each, the modules it names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    let module = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    };
    let names: BTreeSet<String> = paths.iter().map(|p| module(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &paths {
        let m = module(p);
        if m == "lib" {
            continue;
        }
        let code = code_of(p);
        let named = graph.entry(m.clone()).or_default();
        // `crate::name` and each lower-case item of `use crate::{a, b::c, ...}`.
        let mut refs = Vec::new();
        for part in code.split("crate::").skip(1) {
            if let Some(list) = part.strip_prefix('{') {
                let list = list.split('}').next().unwrap_or("");
                refs.extend(
                    list.split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or("")),
                );
            } else {
                refs.push(
                    part.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                );
            }
        }
        for r in refs {
            if r != m && names.contains(r) && r != "lib" {
                named.insert(r.to_owned());
            }
        }
    }
    graph
}

#[test]
fn no_two_storage_modules_import_each_other() {
    let graph = imports();
    // The write path's steps are there, and see the steps below them.
    assert!(graph["writer"].contains("append") && graph["writer"].contains("refold"));
    assert!(graph["refold"].contains("sessions"));
    for start in graph.keys() {
        // Depth-first from `start`: reaching `start` again is a loop.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                let mut p = path.clone();
                p.push(next.clone());
                assert!(next != start, "import loop: {}", p.join(" -> "));
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), p));
                }
            }
        }
    }
}
