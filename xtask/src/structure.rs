//! Module structure of every library crate, run by `cargo test`: no two modules of a crate import
//! each other, directly or in a loop, and no module imports from its crate root.
//!
//! A module is a file or folder directly under `crates/NAME/src/`. It imports another when its
//! code (comments aside) names `crate::other`, or lists `other` in `use crate::{...}`; naming any
//! other `crate::Item` is an import of the root (`lib.rs`), which itself declares and wires every
//! module, so that is a loop too. Shared items live in leaf modules (`state.rs`, `error.rs`, ...)
//! and the root only declares modules, re-exports and wires.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The name standing for the crate root.
const ROOT: &str = "lib";

/// A crate's import graph: each module and the modules (or [`ROOT`]) it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of `text` without its `//` comments (doc comments name modules in prose).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segments after each `crate::` in `code`: `crate::a::B` gives `a`,
/// `use crate::{a, b::c, D}` gives `a`, `b` and `D`.
fn crate_refs(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let mut refs = Vec::new();
    for part in code.split("crate::").skip(1) {
        if let Some(list) = part.strip_prefix('{') {
            let list = list.split('}').next().unwrap_or("");
            refs.extend(list.split(',').map(|s| ident(s.trim())));
        } else {
            refs.push(ident(part));
        }
    }
    refs.retain(|r| !r.is_empty());
    refs
}

/// The graph of one crate from `(module, code)` pairs; the root's own file is `lib`.
fn graph_of(files: &[(String, String)]) -> Graph {
    let names: BTreeSet<&str> = files.iter().map(|(m, _)| m.as_str()).collect();
    let mut graph = Graph::new();
    for (module, text) in files {
        let named = graph.entry(module.clone()).or_default();
        if module == ROOT {
            named.extend(
                names
                    .iter()
                    .filter(|n| **n != ROOT)
                    .map(|n| (*n).to_owned()),
            );
            continue;
        }
        for r in crate_refs(&code_of(text)) {
            let target = if names.contains(r.as_str()) {
                r
            } else {
                ROOT.to_owned()
            };
            if &target != module {
                named.insert(target);
            }
        }
    }
    graph
}

/// Every import loop of `graph`, each as a path that comes back to where it starts.
fn loops(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for start in graph.keys() {
        // Depth-first from `start`: reaching `start` again is a loop.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                let mut p = path.clone();
                p.push(next.clone());
                if next == start {
                    found.push(p.join(" -> "));
                } else if seen.insert(next.clone()) {
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `(module, text)` pairs of the crate whose sources are in `src`.
fn crate_files(src: &Path) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths
        .iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(src).ok()?;
            let first = rel.components().next()?.as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            Some((module, fs::read_to_string(p).unwrap_or_default()))
        })
        .collect()
}

#[test]
fn no_module_imports_loop_in_any_crate() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|root| root.join("crates"))
        .unwrap();
    let mut checked = 0;
    let mut problems = Vec::new();
    for entry in fs::read_dir(&crates).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let src = entry.path().join("src");
        if !src.join("lib.rs").exists() {
            continue;
        }
        checked += 1;
        let graph = graph_of(&crate_files(&src));
        problems.extend(
            loops(&graph)
                .into_iter()
                .map(|l| format!("crates/{name}: import loop {l}")),
        );
    }
    assert!(checked >= 5, "only {checked} crates found under {crates:?}");
    assert!(
        problems.is_empty(),
        "{} import loop(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn loops_through_modules_and_the_root_are_found() {
    let file = |m: &str, code: &str| (m.to_owned(), code.to_owned());
    // A leaf shared by two modules: no loop.
    let clean = graph_of(&[
        file("lib", "mod a; mod b; mod state;"),
        file("a", "use crate::state::AppState;"),
        file(
            "b",
            "use crate::{a, state};\n// crate::b names itself in a comment",
        ),
        file("state", "pub struct AppState;"),
    ]);
    assert!(loops(&clean).is_empty(), "{:?}", loops(&clean));
    assert!(clean["b"].contains("a") && clean["b"].contains("state"));
    // An item of the root, named from a module.
    let root = graph_of(&[
        file("lib", "mod a; pub struct AppState;"),
        file("a", "use crate::AppState;"),
    ]);
    assert_eq!(loops(&root), vec!["a -> lib -> a", "lib -> a -> lib"]);
    // Two modules naming each other, one through a grouped use.
    let pair = graph_of(&[
        file("lib", "mod a; mod b;"),
        file("a", "fn f() { crate::b::g() }"),
        file("b", "use crate::{a::f};"),
    ]);
    assert!(loops(&pair).contains(&"a -> b -> a".to_owned()));
}
