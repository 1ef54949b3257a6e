//! `cargo xtask codegen`: api-spec/ → parse → validate → model → emit → write (or check).
//!
//! Only this module does I/O; the stages below it are pure, so tests run them on
//! fixture specs in memory.

pub mod emit;
pub mod model;
pub mod parse;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use emit::File;

/// Write the files, or only check that the committed ones are current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
}

/// The directories whose every file is generated (a file there that the generator
/// does not produce is an orphan, reported by the check).
pub const GENERATED_DIRS: &[&str] = &[
    "crates/wx-kefu-api/src/generated",
    "crates/wx-kefu-runtime/src/generated",
    "crates/wx-kefu-inbound/src/generated",
];

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Reads every `*.yaml` of a spec directory, in file-name order.
pub fn load(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text =
                std::fs::read_to_string(dir.join(&n)).map_err(|e| format!("api-spec/{n}: {e}"))?;
            Ok((format!("api-spec/{n}"), text))
        })
        .collect()
}

/// The whole pipeline on spec texts (file name, YAML): pure, deterministic.
pub fn generate_from(sources: &[(String, String)]) -> Result<Vec<File>, String> {
    Ok(pipeline(sources)?.0)
}

/// The generated files and the README's table of calls.
fn pipeline(sources: &[(String, String)]) -> Result<(Vec<File>, String), String> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in sources {
        match parse::parse_file(name, text) {
            Ok(spec) => files.push((name.clone(), spec)),
            Err(e) => problems.extend(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    validate::validate(&files).map_err(|problems| {
        format!(
            "api-spec has {} problem(s):\n{}",
            problems.len(),
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let mut types = BTreeMap::new();
    for (file, spec) in &files {
        for (name, def) in spec.types.iter() {
            types.insert(name.as_str(), (file.as_str(), def));
        }
    }
    let model = model::lower(&files, &types);
    Ok((emit::emit(&model)?, emit::readme::table(&model)))
}

/// The pipeline on the real `api-spec/`: the generated code, plus `README.md` with its
/// table of calls brought up to date.
pub fn generate() -> Result<Vec<File>, String> {
    let root = workspace_root();
    let (mut files, table) = pipeline(&load(&root.join("api-spec"))?)?;
    let readme =
        std::fs::read_to_string(root.join("README.md")).map_err(|e| format!("README.md: {e}"))?;
    files.push(File {
        path: "README.md".into(),
        text: emit::readme::patch(&readme, &table)?,
    });
    let surface = surface(&files);
    files.push(File {
        path: SURFACE.into(),
        text: surface,
    });
    Ok(files)
}

/// The api crate's surface, one call a line, kept beside the code it describes: `codegen
/// --check` keeps it current, and its diff in a change shows every call added, changed
/// or lost.
const SURFACE: &str = "crates/wx-kefu-api/src/generated/surface.txt";

fn surface(files: &[File]) -> String {
    let api = files
        .iter()
        .find(|f| f.path.ends_with("wx-kefu-api/src/generated/api.rs"))
        .map_or("", |f| f.text.as_str());
    let mut text = String::from(
        "# The calls of wx-kefu-api, written by `cargo xtask codegen`: signature, method, path and retries.\n",
    );
    for line in api.lines().map(str::trim) {
        if line.starts_with("fn ") || line.contains("· ") {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// Compares generated files with the tree at `root`: a stale, missing or orphaned file is an
/// error carrying a diff and the command to run.
pub fn check_at(root: &Path, files: &[File]) -> Result<(), String> {
    let mut report = String::new();
    for file in files {
        let current = std::fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        if current != file.text {
            let diff = similar::TextDiff::from_lines(&current, &file.text);
            report.push_str(&format!(
                "{} is stale:\n{}\n",
                file.path,
                diff.unified_diff()
                    .context_radius(2)
                    .header(&format!("a/{}", file.path), &format!("b/{}", file.path))
            ));
        }
    }
    for dir in GENERATED_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut orphans: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            .filter(|p| !files.iter().any(|f| &f.path == p))
            .collect();
        orphans.sort();
        for orphan in orphans {
            report.push_str(&format!(
                "{orphan} is not generated by the spec any more: delete it\n"
            ));
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{report}\nThe generated code does not match api-spec/: run `cargo xtask codegen` and commit the result."
        ))
    }
}

/// Checks the real tree.
pub fn check(files: &[File]) -> Result<(), String> {
    check_at(&workspace_root(), files)
}

fn write(root: &Path, files: &[File]) -> Result<(), String> {
    for file in files {
        let path = root.join(&file.path);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(file.text.as_str()) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, &file.text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", file.path);
    }
    for dir in GENERATED_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let rel = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if !files.iter().any(|f| f.path == rel) {
                std::fs::remove_file(entry.path()).map_err(|e| format!("{rel}: {e}"))?;
                println!("removed {rel}");
            }
        }
    }
    Ok(())
}

pub fn run(mode: Mode) -> Result<(), String> {
    let files = generate()?;
    match mode {
        Mode::Write => write(&workspace_root(), &files),
        Mode::Check => check(&files),
    }
}
