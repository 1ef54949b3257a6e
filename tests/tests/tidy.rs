//! Rules of the repository itself, as plain tests (rust-analyzer's `tidy`).

use std::path::{Path, PathBuf};

/// The repository's root: the folder above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .canonicalize()
        .expect("the repository exists")
}

/// Every file below `dir` with one of `endings`, outside `target/` and hidden folders.
fn files(dir: &Path, endings: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files(&path, endings, out);
            }
        } else if endings.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

/// A fresh clone on any machine has nothing beside it: no file the build or the tests
/// read may lie outside the repository (the reference material in `../shared/` is for
/// people to read, not for the build).
#[test]
fn the_build_and_the_tests_read_nothing_outside_the_repository() {
    let root = root();
    let mut sources = Vec::new();
    files(&root, &[".rs", ".toml"], &mut sources);
    sources.push(root.join(".ci/run"));
    // Spelled in two parts so that this file does not match itself.
    let shared = format!("{}shared/", "../");
    let mut outside = Vec::new();
    for file in &sources {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (number, line) in text.lines().enumerate() {
            let mut reads_outside = line.contains(&shared) && !line.trim_start().starts_with("//");
            for macro_name in ["include_str!(\"", "include_bytes!(\""] {
                let Some(at) = line.find(macro_name) else {
                    continue;
                };
                let rest = &line[at + macro_name.len()..];
                let Some(end) = rest.find('"') else {
                    continue;
                };
                let target = file.parent().unwrap_or(&root).join(&rest[..end]);
                let inside = target
                    .canonicalize()
                    .is_ok_and(|target| target.starts_with(&root));
                reads_outside |= !inside;
            }
            if reads_outside {
                outside.push(format!("{shown}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "these lines read files outside the repository; copy what they need into it:\n{}",
        outside.join("\n")
    );
    assert!(
        sources.len() > 50,
        "the scan found too few files: {}",
        sources.len()
    );
}
