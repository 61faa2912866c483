//! ARCHITECTURE.md and the README's layout table say how the analyzer is
//! laid out; these tests hold them to the tree: every source file named,
//! none that is gone, and each module's dependencies as
//! `scripts/module-cycles --deps` finds them in the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `.rs` file under analyzer/src, as `analyzer/src/…`.
fn source_files() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root()).unwrap();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("analyzer/src"), &mut out);
    out
}

/// ARCHITECTURE.md's module table: path → its "uses" column.
fn architecture_rows() -> BTreeMap<String, String> {
    read("ARCHITECTURE.md")
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let path = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            let uses = cells.last()?.strip_suffix(" |")?;
            Some((path.to_owned(), uses.to_owned()))
        })
        .filter(|(path, _)| path.starts_with("analyzer/src/"))
        .collect()
}

/// The module a source file is: `analyzer/src/store/mod.rs` is
/// `store`, `analyzer/src/store/ingest.rs` is `store::ingest`.
fn module_of(path: &str) -> String {
    let rel = path
        .strip_prefix("analyzer/src/")
        .unwrap()
        .strip_suffix(".rs")
        .unwrap();
    rel.strip_suffix("/mod").unwrap_or(rel).replace('/', "::")
}

#[test]
fn architecture_names_every_source_file_and_no_other() {
    let files = source_files();
    let named: BTreeSet<String> = architecture_rows().into_keys().collect();
    let missing: Vec<_> = files.difference(&named).collect();
    let gone: Vec<_> = named.difference(&files).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "ARCHITECTURE.md's table does not match analyzer/src: not named {missing:?}; \
         named but not in the tree {gone:?}"
    );
}

#[test]
fn architecture_says_what_each_module_really_uses() {
    let out = Command::new("python3")
        .arg(root().join("scripts/module-cycles"))
        .arg("--deps")
        .arg(root().join("analyzer/src"))
        .output()
        .expect("python3 runs scripts/module-cycles");
    assert!(
        out.status.success(),
        "scripts/module-cycles failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let found: BTreeMap<String, Vec<String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(module, _)| !module.contains(' '))
        .map(|(module, uses)| {
            let uses = uses
                .split(',')
                .map(str::trim)
                // The scrubber's shared test helpers.
                .filter(|u| !u.is_empty() && *u != "scrub::tests")
                .map(str::to_owned)
                .collect();
            (module.to_owned(), uses)
        })
        .collect();
    let mut wrong = Vec::new();
    for (path, column) in architecture_rows() {
        let module = module_of(&path);
        // The crate root: lib.rs and main.rs say what they use in words.
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(uses) = found.get(&module) else {
            wrong.push(format!("{path}: not a module scripts/module-cycles knows"));
            continue;
        };
        let said = match column.as_str() {
            "nothing of the crate" => Vec::new(),
            c => c
                .split(", ")
                .map(|u| u.trim_matches('`').to_owned())
                .collect(),
        };
        if &said != uses {
            wrong.push(format!("{path}: says {said:?}, uses {uses:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "ARCHITECTURE.md's \"uses\" column is out of date:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_readme_layout_names_each_top_level_module_of_the_analyzer() {
    let readme = read("README.md");
    let layout = readme
        .split("\n## Layout\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a Layout section");
    let row = layout
        .lines()
        .find(|l| l.starts_with("| `analyzer/` |"))
        .expect("README.md's layout table has a row for analyzer/");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("analyzer/src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let shown = if entry.path().is_dir() {
            format!("`src/{name}/`")
        } else if name == "lib.rs" || name == "main.rs" {
            continue;
        } else {
            format!("`src/{name}`")
        };
        if !row.contains(&shown) {
            missing.push(shown);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "README.md's layout row for analyzer/ does not name {missing:?}"
    );
    // Every crate's folder (one with a Cargo.toml) has a row, and every
    // row's folder is there.
    let rows: BTreeSet<String> = layout
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split_once("/` |"))
        .map(|(folder, _)| folder.to_owned())
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        rows, crates,
        "README.md's layout table against the crates' folders"
    );
}
