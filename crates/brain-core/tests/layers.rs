//! The shape of brain-core, checked: its folders use only the folders below them, no two
//! files import each other in a circle, and no source file grows past about 600 lines. The
//! layers, lowest first, are in `LAYERS`; `docs/ARCHITECTURE.md` draws them.
//!
//! An import is a path a file names (`crate::queue::claim::Token`, `super::read`), outside
//! comments; a folder's `mod.rs` declaring and re-exporting its files is not one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The folders and top-level modules of brain-core, lowest first. A module may use those
/// before it (and `error` and the crate root, which every module may use), never those after.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["fsutil"],
    &["task"],
    &["config"],
    &["git"],
    &["store"],
    &["queue"],
    &["human"],
    &["usage"],
    &["run"],
    &["status", "init", "doctor", "ops", "primer"],
];

/// The most lines a source file of any crate may have ("about 600").
const MAX_LINES: usize = 650;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module path of a source file: `queue/claim.rs` is `queue::claim`, `queue/mod.rs` is
/// `queue`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules (files) of the crate by module path.
fn modules() -> BTreeMap<Vec<String>, String> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all.iter()
        .map(|p| {
            let rel = p.strip_prefix(src()).unwrap();
            (module_of(rel), std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

/// The text of a file without its comments and string literals, and without the lines of a
/// `mod.rs` that only declare or re-export its files.
fn code(text: &str, is_mod: bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if is_mod
            && (t.starts_with("pub use ")
                || t.starts_with("pub(crate) use ")
                || t.starts_with("mod ")
                || t.starts_with("pub mod ")
                || t.starts_with("pub(crate) mod "))
        {
            continue;
        }
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The modules `text` (of module `me`) names: the longest prefix of each `crate::…` or
/// `super::…` path that is a module of the crate.
fn imports(
    me: &[String],
    text: &str,
    mods: &BTreeMap<Vec<String>, String>,
) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    for (start, prefix) in [("crate::", 0usize), ("super::", 1usize)] {
        let mut at = 0;
        while let Some(i) = text[at..].find(start) {
            let i = at + i;
            at = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let path: Vec<String> = text[at..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let mut full: Vec<String> = if prefix == 0 {
                Vec::new()
            } else {
                // `super` of a file `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a),
                // the crate root.
                me[..me.len().saturating_sub(1)].to_vec()
            };
            full.extend(path);
            // The longest prefix that is a module.
            while !full.is_empty() && !mods.contains_key(&full) {
                full.pop();
            }
            if full != me {
                found.insert(full);
            }
        }
    }
    found
}

/// Whether a file declares modules (a `mod.rs`, or the crate root): its `mod` and `pub use`
/// lines are a facade, not imports.
fn declares_modules(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("mod ") || t.starts_with("pub mod ") || t.starts_with("pub(crate) mod ")
    })
}

fn layer(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|l| l.contains(&top.as_str()))
}

#[test]
fn folders_use_only_the_folders_below_them() {
    let mods = modules();
    let mut wrong = Vec::new();
    for (me, text) in &mods {
        let Some(mine) = layer(me) else { continue };
        for used in imports(me, &code(text, declares_modules(text)), &mods) {
            let Some(theirs) = layer(&used) else { continue };
            let same_folder = used.first() == me.first();
            if !same_folder && theirs >= mine && !(theirs == mine && LAYERS[mine].len() > 1) {
                wrong.push(format!("{} uses {}", me.join("::"), used.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "uses against the layers:\n{}",
        wrong.join("\n")
    );
    // Every module is in a layer.
    let unplaced: Vec<String> = mods
        .keys()
        .filter(|m| !m.is_empty() && layer(m).is_none())
        .map(|m| m.join("::"))
        .collect();
    assert!(unplaced.is_empty(), "modules in no layer: {unplaced:?}");
}

#[test]
fn no_two_files_import_each_other_in_a_circle() {
    let mods = modules();
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = mods
        .iter()
        .map(|(me, text)| {
            (
                me.clone(),
                imports(me, &code(text, declares_modules(text)), &mods),
            )
        })
        .collect();
    // Depth-first search for a back edge; the circle is reported as found.
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    let mut circle = stack[from..].to_vec();
                    circle.push(m.clone());
                    return Some(circle);
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, &graph, &mut state, &mut Vec::new())
        {
            let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
            panic!("an import circle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn no_source_file_is_over_about_600_lines() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    for other in ["../brain/src", "../brain-mcp/src", "../brain-board/src"] {
        files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(other), &mut all);
    }
    let long: Vec<String> = all
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

/// The checker sees what it is meant to see: a use against the layers, and a circle.
#[test]
fn the_checker_finds_what_it_looks_for() {
    let mut mods = BTreeMap::new();
    for m in [
        vec!["store"],
        vec!["queue"],
        vec!["queue", "a"],
        vec!["queue", "b"],
    ] {
        mods.insert(m.into_iter().map(String::from).collect(), String::new());
    }
    let me = vec!["queue".to_string(), "a".to_string()];
    let text = "use crate::queue::b::X;\nlet y = super::b::f();\n// crate::store\nlet s = \"crate::store\";";
    let found = imports(&me, &code(text, false), &mods);
    assert_eq!(found.len(), 1);
    assert!(found.contains(&vec!["queue".to_string(), "b".to_string()]));
    assert!(layer(&["store".to_string()]) < layer(&["queue".to_string()]));
    assert!(imports(&me, text, &mods).contains(&vec!["store".to_string()]));
}
