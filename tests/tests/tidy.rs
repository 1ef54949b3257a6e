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

/// The text of a file, or an empty string.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The shipped crates: what users build.
const SHIPPED: [&str; 5] = [
    "wx-kefu-runtime",
    "wx-kefu-inbound",
    "wx-kefu-api",
    "wx-kefu-mock",
    "wx-kefu-cli",
];

/// The Rust sources of a crate's `src/`, generated ones included.
fn sources_of(krate: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(
        &root().join("crates").join(krate).join("src"),
        &[".rs"],
        &mut out,
    );
    out.sort();
    out
}

/// A file's code before its test module (the repository's convention puts it last),
/// without comment lines.
fn shipped_code(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line))
}

/// The runtime knows no endpoint: no path of the API appears in it, but for the two token
/// calls (authentication is its job; `spec_runtime_agreement` checks them against the spec).
#[test]
fn the_runtime_names_no_endpoint_path() {
    let mut found = Vec::new();
    for file in sources_of("wx-kefu-runtime") {
        let text = read(&file);
        for (number, line) in shipped_code(&text) {
            for prefix in ["\"/cgi-bin/", "\"/customservice/", "\"/wxa/", "\"/sns/"] {
                let allowed =
                    line.contains("STABLE_TOKEN_PATH") || line.contains("CLASSIC_TOKEN_PATH");
                if line.contains(prefix) && !allowed {
                    found.push(format!("{}:{number}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "endpoint paths in the runtime:\n{}",
        found.join("\n")
    );
}

/// Every module says what it is for in its first line.
#[test]
fn every_module_opens_with_its_purpose() {
    let mut sources = Vec::new();
    for dir in ["crates", "xtask/src", "benches/src", "fuzz/src", "tests"] {
        files(&root().join(dir), &[".rs"], &mut sources);
    }
    let missing: Vec<String> = sources
        .iter()
        .filter(|file| {
            // Integration tests' helper modules and test files alike open with `//!`.
            let text = read(file);
            let first = text
                .lines()
                .find(|line| !line.trim().is_empty() && !line.starts_with("// @generated"));
            !first.is_some_and(|line| line.starts_with("//!"))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` line:\n{}",
        missing.join("\n")
    );
    assert!(sources.len() > 80, "the scan found too few files");
}

/// A shipped crate does not `unwrap`: a failure is a typed error or an `expect` that says
/// why it cannot happen. Tests, examples and dev tools are free to.
#[test]
fn shipped_crates_do_not_unwrap() {
    let mut found = Vec::new();
    for krate in SHIPPED {
        for file in sources_of(krate) {
            let text = read(&file);
            for (number, line) in shipped_code(&text) {
                if line.contains(".unwrap()") {
                    found.push(format!("{}:{number}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "unwrap in shipped code:\n{}",
        found.join("\n")
    );
}

/// The dependency graph runs one way: runtime and inbound depend on no other crate of the
/// workspace; the api on those two; the emulator on the api; the CLI on the api and the
/// emulator. Nothing depends on the CLI.
#[test]
fn the_crates_depend_on_each_other_one_way() {
    let allowed: [(&str, &[&str]); 5] = [
        ("wx-kefu-runtime", &[]),
        ("wx-kefu-inbound", &[]),
        ("wx-kefu-api", &["wx-kefu-runtime", "wx-kefu-inbound"]),
        (
            "wx-kefu-mock",
            &["wx-kefu-runtime", "wx-kefu-inbound", "wx-kefu-api"],
        ),
        ("wx-kefu-cli", &["wx-kefu-api", "wx-kefu-mock"]),
    ];
    for (krate, may) in allowed {
        let manifest = read(&root().join("crates").join(krate).join("Cargo.toml"));
        // The normal dependencies: from `[dependencies]` to the next table.
        let dependencies: String = manifest
            .lines()
            .skip_while(|line| line.trim() != "[dependencies]")
            .skip(1)
            .take_while(|line| !line.trim_start().starts_with('['))
            .collect::<Vec<_>>()
            .join("\n");
        for other in SHIPPED.iter().filter(|other| **other != krate) {
            let uses = dependencies.lines().any(|line| {
                line.trim_start().starts_with(&format!("{other} "))
                    || line.trim_start().starts_with(&format!("{other}."))
                    || line.trim_start().starts_with(&format!("{other}="))
            });
            assert!(
                !uses || may.contains(other),
                "{krate} depends on {other}, against the one-way graph"
            );
            // The scan sees the dependencies it allows, too.
            if krate == "wx-kefu-api" && *other == "wx-kefu-runtime" {
                assert!(uses, "the api's dependency on the runtime went unseen");
            }
        }
    }
}

/// Tests, examples and benches talk to the emulator or their own servers on 127.0.0.1:
/// no base URL they set points anywhere else.
#[test]
fn tests_and_examples_stay_on_loopback() {
    let mut sources = Vec::new();
    for dir in ["crates", "tests", "benches", "fuzz"] {
        files(&root().join(dir), &[".rs"], &mut sources);
    }
    let mut found = Vec::new();
    for file in &sources {
        let path = file.display().to_string();
        let is_test =
            path.contains("/tests/") || path.contains("/examples/") || path.contains("/benches/");
        let text = read(file);
        // Unit tests sit at the end of a file, after `#[cfg(test)]`.
        let tests_from = if is_test {
            0
        } else {
            text.find("#[cfg(test)]").unwrap_or(text.len())
        };
        for (number, line) in text[tests_from..].lines().enumerate() {
            let Some(at) = line.find(".base_url(\"") else {
                continue;
            };
            let url = &line[at + ".base_url(\"".len()..];
            let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|prefix| url.starts_with(prefix));
            // A URL that only shows how a proxy's credentials are masked is never dialled.
            let never_dialled = url.contains("proxy.test");
            if !local && !never_dialled {
                found.push(format!(
                    "{path}: line {} of the tests: {}",
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "base URLs off the loopback:\n{}",
        found.join("\n")
    );
}

/// The sibling modules `path` (a module file of `krate`) uses, by `crate::` paths in its
/// shipped code: a module's children and the crate root's own items (`crate::Name`) are
/// not siblings.
fn module_uses(text: &str, modules: &[String], own: &str) -> Vec<String> {
    let mut used = Vec::new();
    for (_, line) in shipped_code(text) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            // `use crate::{a, b::C}`: every module named in the braces.
            let names: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split(['}', ','])
                    .map(|part| {
                        part.trim()
                            .split("::")
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect(),
                None => vec![name],
            };
            for name in names {
                if name != own && modules.contains(&name) && !used.contains(&name) {
                    used.push(name);
                }
            }
        }
    }
    used
}

/// A cycle in `graph` (module → the modules it uses), as the modules in order.
fn a_cycle(graph: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &[(String, Vec<String>)],
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.iter().any(|d| d == node) {
            return None;
        }
        path.push(node.to_owned());
        let edges = graph
            .iter()
            .find(|(name, _)| name == node)
            .map(|(_, to)| to.clone())
            .unwrap_or_default();
        for next in edges {
            if let Some(cycle) = visit(&next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(node.to_owned());
        None
    }
    let mut done = Vec::new();
    for (node, _) in graph {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// Who owns what stays readable: within each shipped crate, the modules (each file of
/// `src/`, the crate root aside) use one another without a cycle, so each can be read
/// knowing only those below it. (`a_cycle` itself is checked on a known cycle.)
#[test]
fn the_modules_of_each_crate_use_one_another_without_a_cycle() {
    let graph = |edges: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        edges
            .iter()
            .map(|(from, to)| (from.to_string(), to.iter().map(|t| t.to_string()).collect()))
            .collect()
    };
    assert_eq!(
        a_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        a_cycle(&graph(&[("a", &["b"]), ("b", &[]), ("c", &["a"])])),
        None
    );
    let uses = module_uses(
        "use crate::{client::Client, error};\nuse crate::Root;\nlet x = crate::token::f();\n// crate::decode\n",
        &[
            "client".into(),
            "error".into(),
            "token".into(),
            "decode".into(),
        ],
        "raw",
    );
    assert_eq!(uses, ["client", "error", "token"]);

    let mut cycles = Vec::new();
    for krate in SHIPPED {
        let files: Vec<PathBuf> = sources_of(krate)
            .into_iter()
            .filter(|path| {
                let relative = path.strip_prefix(root().join("crates").join(krate).join("src"));
                relative.is_ok_and(|r| r.components().count() == 1)
            })
            .collect();
        let name = |path: &PathBuf| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let modules: Vec<String> = files
            .iter()
            .map(name)
            .filter(|m| m != "lib" && m != "main")
            .collect();
        let graph: Vec<(String, Vec<String>)> = files
            .iter()
            .filter(|path| modules.contains(&name(path)))
            .map(|path| {
                let module = name(path);
                let uses = module_uses(&read(path), &modules, &module);
                (module, uses)
            })
            .collect();
        if let Some(cycle) = a_cycle(&graph) {
            cycles.push(format!("{krate}: {}", cycle.join(" → ")));
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that use each other in a circle (move what both need below them):\n{}",
        cycles.join("\n")
    );
}

/// A test that expects a refusal says which one: `assert!(x.is_err())` passes for a
/// refusal by the wrong rule too.
#[test]
fn no_test_asserts_only_that_there_is_an_error() {
    let root = root();
    let mut sources = Vec::new();
    files(&root, &[".rs"], &mut sources);
    let needle = ["is_err", "()"].concat();
    let mut found = Vec::new();
    for path in sources {
        let text = read(&path);
        let lines: Vec<&str> = text.lines().map(str::trim_start).collect();
        for (n, code) in lines.iter().enumerate() {
            // `assert!(x.is_err())` on one line, or its condition alone on the next.
            let opened =
                *code == "assert!(" && lines.get(n + 1).is_some_and(|next| next.contains(&needle));
            if (code.starts_with("assert!(") && code.contains(&needle)) || opened {
                found.push(format!("{}:{}: {code}", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "assert the error expected (its variant, code or message), not just that there is one:\n{}",
        found.join("\n")
    );
}
