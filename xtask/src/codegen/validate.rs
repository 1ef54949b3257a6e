//! Checks the parsed spec before anything is emitted, and reports every problem at once,
//! each naming the file, the entry and the field.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToSnakeCase, ToUpperCamelCase};

use super::parse::{
    DownloadResponse, EndpointDef, EnumValueDef, FieldDef, FileKind, HttpMethod, OrderedMap,
    PushDef, PushFieldDef, PushScalar, Repr, ResponseDef, Scalar, SpecFile, TypeDef, TypeKind,
};

pub const PRIMITIVES: &[&str] = &[
    "string",
    "integer",
    "bool",
    "string_or_number",
    "file",
    "array",
    "map",
];
pub const FLAGS: &[&str] = &["token_invalid", "transient", "never_retry", "out_of_window"];
/// The types of a push's fields (besides aliases of `string` and `integer`).
pub const PUSH_PRIMITIVES: &[&str] = &["string", "integer", "float"];
/// The fields every push has, which the inbound runtime reads itself.
pub const ENVELOPE: &[&str] = &[
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "Event",
];
/// The Rust names of the two families of pushes (generated enums).
const FAMILIES: &[&str] = &["UserMessage", "Event"];
const DOC_PREFIX: &str = "https://developers.weixin.qq.com/";

/// Every named type of the spec: name → (file, definition).
pub type TypeTable<'a> = BTreeMap<&'a str, (&'a str, &'a TypeDef)>;

struct Report {
    problems: Vec<String>,
}

impl Report {
    fn at(&mut self, file: &str, entry: &str, field: Option<&str>, message: impl Into<String>) {
        let message = message.into();
        self.problems.push(match field {
            Some(field) => format!("{file}: {entry}, field `{field}`: {message}"),
            None => format!("{file}: {entry}: {message}"),
        });
    }
}

fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// Builds the table of named types, or the list of problems.
pub fn validate(files: &[(String, SpecFile)]) -> Result<(), Vec<String>> {
    let mut r = Report {
        problems: Vec::new(),
    };
    let mut types: TypeTable = BTreeMap::new();
    let mut rust_names: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |r: &mut Report, file: &str, entry: &str, rust: String| {
        if let Some(previous) = rust_names.insert(rust.clone(), entry.to_owned()) {
            r.at(
                file,
                entry,
                None,
                format!("its Rust name `{rust}` is also the name of {previous}"),
            );
        }
    };

    for (file, spec) in files {
        let stem = file
            .trim_start_matches("api-spec/")
            .trim_end_matches(".yaml");
        if let Some(group) = &spec.group
            && group != stem
        {
            r.at(
                file,
                "group",
                None,
                format!("`{group}` must equal the file name `{stem}`"),
            );
        }
        for (name, def) in spec.types.iter() {
            let entry = format!("type `{name}`");
            if !is_snake(name) {
                r.at(file, &entry, None, "names are snake_case");
            }
            if let Some((other, _)) = types.insert(name, (file, def)) {
                r.at(file, &entry, None, format!("also defined in {other}"));
            }
            if def.kind() != TypeKind::Alias {
                claim(&mut r, file, &entry, name.to_upper_camel_case());
            }
        }
        for ep in &spec.endpoints {
            let entry = format!("endpoint `{}`", ep.name);
            claim(&mut r, file, &entry, ep.name.to_upper_camel_case());
            if let ResponseDef::Inline(inline) = &ep.response {
                let name = inline
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{}_response", ep.name));
                claim(
                    &mut r,
                    file,
                    &format!("response of endpoint `{}`", ep.name),
                    name.to_upper_camel_case(),
                );
            }
        }
    }

    let mut endpoint_names: BTreeMap<&str, &str> = BTreeMap::new();
    let mut placed: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut paths = BTreeMap::new();
    let mut codes = BTreeSet::new();
    let mut code_names = BTreeSet::new();
    for (file, spec) in files {
        for e in &spec.errors {
            let entry = format!("error {}", e.code);
            if !codes.insert(e.code) {
                r.at(file, &entry, None, "code listed twice");
            }
            if !is_snake(&e.name) || !code_names.insert(e.name.as_str()) {
                r.at(
                    file,
                    &entry,
                    None,
                    format!("name `{}` must be snake_case and unique", e.name),
                );
            }
            for flag in &e.flags {
                if !FLAGS.contains(&flag.as_str()) {
                    r.at(
                        file,
                        &entry,
                        None,
                        format!("unknown flag `{flag}` (known: {})", FLAGS.join(", ")),
                    );
                }
            }
        }
    }
    for (file, spec) in files {
        for (name, def) in spec.types.iter() {
            check_type(&mut r, &types, file, name, def);
            let refused = def.as_union().map(|d| &d.refused);
            let refused = refused.iter().flat_map(|r| r.iter()).map(|(_, code)| *code);
            for code in def.errcode().into_iter().chain(refused) {
                if !codes.contains(&code) {
                    r.at(
                        file,
                        &format!("type `{name}`"),
                        None,
                        format!("errcode {code} is not in the catalogue (errors.yaml)"),
                    );
                }
            }
        }
        for (name, def) in spec.types.iter() {
            for (field, f) in def.as_struct().iter().flat_map(|d| d.fields.iter()) {
                check_field_codes(&mut r, &codes, file, &format!("type `{name}`"), field, f);
            }
        }
        if let Some(sets) = &spec.permission_sets {
            if sets.is_empty() {
                r.at(file, "permission_sets", None, "a file's permission sets list at least one (leave the key out when none is known)");
            }
            permission_sets(&mut r, file, None, sets);
        }
        for ep in &spec.endpoints {
            let entry = format!("endpoint `{}`", ep.name);
            if let Some(sets) = &ep.permission_sets {
                permission_sets(&mut r, file, Some(&entry), sets);
            }
            for (field, f) in ep
                .query
                .iter()
                .chain(ep.body.iter())
                .chain(ep.multipart.iter())
            {
                check_field_codes(&mut r, &codes, file, &entry, field, f);
            }
            if !is_snake(&ep.name) {
                r.at(file, &entry, None, "names are snake_case");
            }
            let word_ok = |word: &str| {
                word.starts_with(|c: char| c.is_ascii_lowercase())
                    && word
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !word.ends_with('-')
            };
            let command = ep
                .command
                .clone()
                .or_else(|| spec.command.clone())
                .unwrap_or_else(|| spec.group.clone().unwrap_or_default().replace('_', "-"));
            let verb = ep.verb.clone().unwrap_or_else(|| ep.name.replace('_', "-"));
            for (key, word) in [("command", &command), ("verb", &verb)] {
                if !word_ok(word) {
                    r.at(file, &entry, Some(key), format!(
                        "the command line's `{word}` must be a lowercase word, with `-` between parts (`material-add`)"
                    ));
                }
            }
            if ["token", "config", "mock", "help"].contains(&command.as_str()) {
                r.at(
                    file,
                    &entry,
                    Some("command"),
                    format!("`{command}` is a hand-written command of the CLI: choose another"),
                );
            }
            if ep.auth
                && let Some(other) = placed.insert(
                    (command.clone(), verb.clone()),
                    format!("`{}` in {file}", ep.name),
                )
            {
                r.at(
                    file,
                    &entry,
                    Some("verb"),
                    format!(
                        "`wx-kefu {command} {verb}` is also {other}: give one a `verb:` of its own"
                    ),
                );
            }
            if let Some(other) = endpoint_names.insert(ep.name.as_str(), file.as_str()) {
                r.at(
                    file,
                    &entry,
                    None,
                    format!("another endpoint has this name, in {other}"),
                );
            }
            check_endpoint(&mut r, &types, &codes, &mut paths, file, &entry, ep);
        }
    }
    check_pushes(&mut r, &types, files);
    if r.problems.is_empty() {
        Ok(())
    } else {
        Err(r.problems)
    }
}

fn check_endpoint(
    r: &mut Report,
    types: &TypeTable,
    codes: &BTreeSet<i64>,
    paths: &mut BTreeMap<(HttpMethod, String), String>,
    file: &str,
    entry: &str,
    ep: &EndpointDef,
) {
    let path_ok = ep.path.starts_with('/')
        && ep.path.len() > 1
        && !ep.path.ends_with('/')
        && !ep.path.contains("//")
        && ep
            .path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-');
    if !path_ok {
        r.at(
            file,
            entry,
            None,
            format!(
                "bad path `{}`: absolute, no query, no trailing slash, [A-Za-z0-9_/-] only",
                ep.path
            ),
        );
    }
    if let Some(other) = paths.insert((ep.method, ep.path.clone()), ep.name.clone()) {
        r.at(
            file,
            entry,
            None,
            format!("`{} {}` is also the path of `{other}`", ep.method, ep.path),
        );
    }
    if !ep.doc.starts_with(DOC_PREFIX) {
        r.at(
            file,
            entry,
            None,
            format!("doc must be an official page under {DOC_PREFIX}"),
        );
    }
    if ep.method == HttpMethod::Get && (!ep.body.is_empty() || !ep.multipart.is_empty()) {
        r.at(
            file,
            entry,
            None,
            "a GET has no body: move the fields to `query`",
        );
    }
    if !ep.body.is_empty() && !ep.multipart.is_empty() {
        r.at(
            file,
            entry,
            None,
            "a request has a JSON body or a multipart body, not both",
        );
    }
    if let Some(when) = &ep.idempotent_when {
        match ep.body.iter().find(|(name, _)| *name == when) {
            None => r.at(file, entry, Some("idempotent_when"), format!(
                "`{when}` is not a body field of this endpoint"
            )),
            Some((_, f)) if f.required.unwrap_or(true) => r.at(file, entry, Some("idempotent_when"), format!(
                "`{when}` is required, so the call is always safe to repeat: say `idempotent: true` instead"
            )),
            Some(_) if ep.idempotent => r.at(file, entry, Some("idempotent_when"),
                "the endpoint is already `idempotent: true`"),
            Some(_) => {}
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut flattened = 0;
    for (place, map) in [
        ("query", &ep.query),
        ("body", &ep.body),
        ("multipart", &ep.multipart),
    ] {
        for (name, field) in map.iter() {
            if let Some(first) = seen.insert(name, place) {
                r.at(file, entry, Some(name), format!(
                    "is in both `{first}` and `{place}`; to send it in both the body and the query, list it once in `body` with `also_in_query: true`"
                ));
            }
            if field.also_in_query && place != "body" {
                r.at(
                    file,
                    entry,
                    Some(name),
                    "`also_in_query` applies to body fields only",
                );
            }
            let is_struct = types
                .get(field.ty.as_str())
                .is_some_and(|(_, d)| d.kind() == TypeKind::Struct);
            if field.ty == "file" && place != "multipart" {
                r.at(file, entry, Some(name), "files go in `multipart`");
            }
            if place == "multipart" && field.ty != "file" && !is_struct {
                r.at(
                    file,
                    entry,
                    Some(name),
                    "`multipart` holds one file and structs (sent as JSON text)",
                );
            }
            if field.limits_by.is_some() {
                check_limits_by(r, types, file, entry, name, field, ep);
            }
            if !field.required_when.is_empty() {
                check_required_when(r, types, file, entry, name, field, ep);
            }
            if place == "query" && !query_type_ok(types, field) {
                r.at(
                    file,
                    entry,
                    Some(name),
                    "query fields are strings, integers or closed enums",
                );
            }
            if field.flatten {
                flattened += 1;
            }
            check_field(r, types, file, entry, name, field);
        }
    }
    let files = ep.multipart.iter().filter(|(_, f)| f.ty == "file").count();
    if !ep.multipart.is_empty() && files != 1 {
        r.at(
            file,
            entry,
            Some("multipart"),
            "a multipart body holds exactly one file",
        );
    }
    if flattened > 1 {
        r.at(file, entry, None, "at most one field may be flattened");
    }
    for rule in &ep.rules {
        for side in [&rule.span.start, &rule.span.end] {
            let field = ep
                .body
                .iter()
                .chain(ep.query.iter())
                .find(|(n, _)| *n == side);
            match field {
                Some((_, f)) if f.ty == "integer" && f.required != Some(false) => {}
                _ => r.at(
                    file,
                    entry,
                    Some(side),
                    "a span rule needs a required integer field of this name",
                ),
            }
        }
        if rule.span.max <= 0 {
            r.at(file, entry, None, "a span's `max` must be positive");
        }
    }
    match &ep.response {
        ResponseDef::Named(name) if name == "ack" => {}
        ResponseDef::Named(name) | ResponseDef::Download(DownloadResponse { download: name }) => {
            match types.get(name.as_str()) {
                Some((_, def)) if def.kind() == TypeKind::Struct => {}
                Some(_) => r.at(
                    file,
                    entry,
                    Some("response"),
                    format!("`{name}` is not a struct"),
                ),
                None => r.at(
                    file,
                    entry,
                    Some("response"),
                    format!("unknown type `{name}` (use `ack` for an errcode-only answer)"),
                ),
            }
        }
        ResponseDef::Inline(inline) => {
            for (name, field) in inline.fields.iter() {
                check_field(r, types, file, entry, name, field);
            }
        }
    }
    for rule in &ep.rules {
        for code in rule.span.errcode.iter().chain(&rule.span.order_errcode) {
            if !codes.contains(code) {
                r.at(
                    file,
                    entry,
                    Some("rules"),
                    format!("errcode {code} is not in the catalogue (errors.yaml)"),
                );
            }
        }
    }
    for code in &ep.errors {
        if !codes.contains(code) {
            r.at(
                file,
                entry,
                Some("errors"),
                format!("errcode {code} is not in the catalogue (errors.yaml)"),
            );
        }
    }
}

fn query_type_ok(types: &TypeTable, field: &FieldDef) -> bool {
    match field.ty.as_str() {
        "string" | "integer" => true,
        other => types
            .get(other)
            .is_some_and(|(_, d)| matches!(d.kind(), TypeKind::Alias | TypeKind::Enum)),
    }
}

/// The primitive a field's type stands for (an alias resolves to its base), if any.
pub fn base_primitive<'a>(types: &'a TypeTable, ty: &'a str) -> Option<&'a str> {
    if PRIMITIVES.contains(&ty) {
        return Some(ty);
    }
    match types.get(ty) {
        Some((_, TypeDef::Alias(alias))) => Some(&alias.ty),
        _ => None,
    }
}

fn check_field(
    r: &mut Report,
    types: &TypeTable,
    file: &str,
    entry: &str,
    name: &str,
    f: &FieldDef,
) {
    if !is_snake(name) {
        r.at(file, entry, Some(name), "wire names are snake_case");
    }
    let known = PRIMITIVES.contains(&f.ty.as_str()) || types.contains_key(f.ty.as_str());
    if !known {
        r.at(file, entry, Some(name), format!("unknown type `{}`", f.ty));
        return;
    }
    if f.ty == "map" {
        check_map(r, types, file, entry, name, f);
    } else if f.ty == "array" {
        match &f.items {
            None => r.at(file, entry, Some(name), "an array needs `items`"),
            Some(items) if items == "array" || items == "file" => r.at(
                file,
                entry,
                Some(name),
                format!("arrays of `{items}` are not supported"),
            ),
            Some(items)
                if !PRIMITIVES.contains(&items.as_str()) && !types.contains_key(items.as_str()) =>
            {
                r.at(
                    file,
                    entry,
                    Some(name),
                    format!("unknown item type `{items}`"),
                )
            }
            Some(_) => {}
        }
    } else if f.items.is_some() {
        r.at(
            file,
            entry,
            Some(name),
            "`items` applies to arrays and maps only",
        );
    }
    if f.ty != "map" && !f.key_rules.is_empty() {
        r.at(file, entry, Some(name), "`key_rules` applies to maps only");
    }
    let named_doc = types
        .get(f.ty.as_str())
        .is_some_and(|(_, d)| d.doc().is_some());
    if f.doc.is_none() && !named_doc {
        r.at(
            file,
            entry,
            Some(name),
            "every field needs a `doc` with zh and en (it becomes the field's doc comment)",
        );
    }
    let base = base_primitive(types, &f.ty);
    let is = |p: &str| base == Some(p);
    let misplaced = |rule: &str, ok: bool, r: &mut Report| {
        if !ok {
            r.at(
                file,
                entry,
                Some(name),
                format!("`{rule}` does not apply to type `{}`", f.ty),
            );
        }
    };
    misplaced("min_chars", f.min_chars.is_none() || is("string"), r);
    misplaced("max_chars", f.max_chars.is_none() || is("string"), r);
    misplaced("pattern", f.pattern.is_none() || is("string"), r);
    misplaced("sensitive", !f.sensitive || is("string"), r);
    misplaced("min", f.min.is_none() || is("integer"), r);
    misplaced("max", f.max.is_none() || is("integer"), r);
    misplaced(
        "min_items",
        f.min_items.is_none() || is("array") || is("map"),
        r,
    );
    misplaced(
        "max_items",
        f.max_items.is_none() || is("array") || is("map"),
        r,
    );
    misplaced(
        "max_bytes",
        f.max_bytes.is_none() || is("file") || is("string"),
        r,
    );
    misplaced("file_kind", f.file_kind.is_none() || is("file"), r);
    misplaced("size_errcode", f.size_errcode.is_none() || is("file"), r);
    misplaced(
        "empty_errcode",
        f.empty_errcode.is_none() || is("string"),
        r,
    );
    for (rule, _) in f.rule_errcodes.iter() {
        let present = match rule.as_str() {
            "min_chars" => f.min_chars.is_some(),
            "max_chars" => f.max_chars.is_some(),
            "max_bytes" => f.max_bytes.is_some(),
            "pattern" => f.pattern.is_some(),
            "min" => f.min.is_some(),
            "max" => f.max.is_some(),
            "min_items" => f.min_items.is_some(),
            "max_items" => f.max_items.is_some(),
            "file_kind" => f.file_kind.is_some(),
            other => {
                r.at(file, entry, Some(name), format!(
                    "`rule_errcodes` names `{other}`, which is no rule (one of min_chars, max_chars, max_bytes, pattern, min, max, min_items, max_items, file_kind)"
                ));
                continue;
            }
        };
        if !present {
            r.at(
                file,
                entry,
                Some(name),
                format!(
                    "`rule_errcodes` gives `{rule}` an errcode, but the field has no `{rule}` rule"
                ),
            );
        }
    }
    misplaced("limits_by", f.limits_by.is_none() || is("file"), r);
    misplaced("limits", f.limits.is_empty() || is("file"), r);
    if f.limits_by.is_some() == f.limits.is_empty() {
        r.at(
            file,
            entry,
            Some(name),
            "`limits_by` and `limits` go together",
        );
    }
    if f.limits_by.is_some() && (f.max_bytes.is_some() || f.file_kind.is_some()) {
        r.at(
            file,
            entry,
            Some(name),
            "with `limits_by`, `max_bytes` and `file_kind` go in `limits`",
        );
    }
    for kinds in f
        .file_kind
        .iter()
        .chain(f.limits.iter().map(|(_, l)| &l.file_kind))
    {
        if kinds.is_empty() || (kinds.len() > 1 && kinds.contains(&FileKind::Any)) {
            r.at(
                file,
                entry,
                Some(name),
                "`file_kind` lists kinds, or is `[any]` alone",
            );
        }
    }
    let union = types
        .get(f.ty.as_str())
        .is_some_and(|(_, d)| d.kind() == TypeKind::Union);
    misplaced("flatten", !f.flatten || union, r);
    if union && !f.flatten {
        r.at(file, entry, Some(name), "a union field must be `flatten: true` (its tag and payload sit beside the other fields)");
    }
    if let (Some(a), Some(b)) = (f.min_chars, f.max_chars)
        && a > b
    {
        r.at(file, entry, Some(name), "`min_chars` is above `max_chars`");
    }
    if let (Some(a), Some(b)) = (f.min, f.max)
        && a > b
    {
        r.at(file, entry, Some(name), "`min` is above `max`");
    }
    if let (Some(a), Some(b)) = (f.min_items, f.max_items)
        && a > b
    {
        r.at(file, entry, Some(name), "`min_items` is above `max_items`");
    }
    if let Some(pattern) = &f.pattern {
        check_pattern(r, file, entry, Some(name), pattern, f.hint.as_deref());
    } else if f.hint.is_some() {
        r.at(
            file,
            entry,
            Some(name),
            "`hint` describes a `pattern`, and there is none",
        );
    }
}

/// A field's errcodes (`errcode`, `size_errcode`, `empty_errcode`) are in the catalogue.
fn check_field_codes(
    r: &mut Report,
    codes: &BTreeSet<i64>,
    file: &str,
    entry: &str,
    name: &str,
    f: &FieldDef,
) {
    let per_rule = f
        .rule_errcodes
        .iter()
        .map(|(rule, code)| (format!("rule_errcodes.{rule}"), Some(*code)));
    for (key, code) in [
        ("errcode".to_owned(), f.errcode),
        ("size_errcode".to_owned(), f.size_errcode),
        ("empty_errcode".to_owned(), f.empty_errcode),
    ]
    .into_iter()
    .chain(per_rule)
    {
        if let Some(code) = code
            && !codes.contains(&code)
        {
            r.at(
                file,
                entry,
                Some(name),
                format!("`{key}: {code}` is not in the catalogue (errors.yaml)"),
            );
        }
    }
}

/// A map: string keys, `items` a struct; `key_rules` need a string `value` in it.
fn check_map(r: &mut Report, types: &TypeTable, file: &str, entry: &str, name: &str, f: &FieldDef) {
    let items = match &f.items {
        None => {
            r.at(
                file,
                entry,
                Some(name),
                "a map needs `items`: the struct of each entry's value (its keys are strings)",
            );
            return;
        }
        Some(items) => items,
    };
    let Some(def) = types.get(items.as_str()).and_then(|(_, d)| d.as_struct()) else {
        r.at(
            file,
            entry,
            Some(name),
            format!(
                "a map's `items` is a struct type (WeChat's `{{key: {{value: …}}}}`), not `{items}`"
            ),
        );
        return;
    };
    if f.key_rules.is_empty() {
        return;
    }
    let value_is_text = def
        .fields
        .iter()
        .any(|(field, d)| field == "value" && base_primitive(types, &d.ty) == Some("string"));
    if !value_is_text {
        r.at(
            file,
            entry,
            Some(name),
            format!(
                "`key_rules` check each entry's `value`: `{items}` needs a string field `value`"
            ),
        );
    }
    for (kind, rule) in f.key_rules.iter() {
        let kind_ok = !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !kind.ends_with('_');
        if !kind_ok {
            r.at(file, entry, Some(name), format!(
                "key kind `{kind}`: a kind is the key less its trailing digits, in lowercase letters and `_` (`thing` for `thing1`)"
            ));
        }
        if rule.max_chars.is_none() && rule.pattern.is_none() {
            r.at(
                file,
                entry,
                Some(name),
                format!("key kind `{kind}` has no rule: give `max_chars` or `pattern`"),
            );
        }
        match &rule.pattern {
            Some(pattern) => {
                check_pattern(r, file, entry, Some(name), pattern, rule.hint.as_deref())
            }
            None if rule.hint.is_some() => r.at(
                file,
                entry,
                Some(name),
                format!("key kind `{kind}`: `hint` describes a `pattern`, and there is none"),
            ),
            None => {}
        }
    }
}

fn check_pattern(
    r: &mut Report,
    file: &str,
    entry: &str,
    field: Option<&str>,
    pattern: &str,
    hint: Option<&str>,
) {
    if let Err(e) = regex_lite::Regex::new(pattern) {
        r.at(file, entry, field, format!("pattern does not compile: {e}"));
    }
    if !pattern.starts_with('^') || !pattern.ends_with('$') {
        r.at(
            file,
            entry,
            field,
            "patterns are anchored: start with `^` and end with `$`",
        );
    }
    if hint.is_none() {
        r.at(
            file,
            entry,
            field,
            "a pattern needs a `hint` saying in words what it accepts",
        );
    }
}

/// A type's own rules. Which keys a kind takes the parser has checked (each kind is a
/// struct of its own keys).
fn check_type(r: &mut Report, types: &TypeTable, file: &str, name: &str, def: &TypeDef) {
    let entry = format!("type `{name}`");
    if def.doc().is_none() {
        r.at(
            file,
            &entry,
            None,
            "every type needs a `doc` with zh and en",
        );
    }
    match def {
        TypeDef::Alias(def) => match def.ty.as_str() {
            "string" | "integer" => {
                if let Some(pattern) = &def.pattern {
                    check_pattern(r, file, &entry, None, pattern, def.hint.as_deref());
                }
            }
            other => r.at(
                file,
                &entry,
                None,
                format!("an alias names `string` or `integer`, not `{other}`"),
            ),
        },
        TypeDef::Struct(def) => {
            for (field, f) in def.fields.iter() {
                check_field(r, types, file, &entry, field, f);
                if f.also_in_query {
                    r.at(
                        file,
                        &entry,
                        Some(field),
                        "`also_in_query` applies to endpoint body fields only",
                    );
                }
            }
        }
        TypeDef::Enum(def) => check_values(r, file, &entry, &def.values, false),
        TypeDef::OpenEnum(def) => {
            check_values(r, file, &entry, &def.values, def.repr == Repr::Integer);
        }
        TypeDef::Union(def) => {
            for (tag, _) in def.refused.iter() {
                if def.variants.iter().any(|(variant, _)| variant == tag) {
                    r.at(
                        file,
                        &entry,
                        Some(tag),
                        "a refused tag cannot also be a variant",
                    );
                }
            }
            for (variant, v) in def.variants.iter() {
                if types
                    .get(v.ty.as_str())
                    .and_then(|(_, d)| d.as_struct())
                    .is_none()
                {
                    r.at(
                        file,
                        &entry,
                        Some(variant),
                        format!("`{}` is not a struct type", v.ty),
                    );
                }
            }
        }
    }
}

/// An enum's values: at least one, each with its number when `integer`.
fn check_values(
    r: &mut Report,
    file: &str,
    entry: &str,
    values: &OrderedMap<EnumValueDef>,
    integer: bool,
) {
    if values.is_empty() {
        r.at(file, entry, None, "an enum needs `values`");
    }
    for (value, v) in values.iter() {
        match (&v.value, integer) {
            (Some(Scalar::Int(_)), true) | (None | Some(Scalar::Str(_)), false) => {}
            (_, true) => r.at(
                file,
                entry,
                Some(value),
                "a `repr: integer` enum gives each value its number: `value: 1`",
            ),
            (Some(Scalar::Int(_)), false) => r.at(
                file,
                entry,
                Some(value),
                "a string enum's `value` is the wire text (`value: \"WIRE\"`), or leave it out to use the key; numbers need `repr: integer`",
            ),
        }
    }
}

/// The pushes (`user_messages`, `events`): names, wire values, Rust names, fields. They are
/// generated into their own crate, so their Rust names only need to be unique among pushes.
fn check_pushes(r: &mut Report, types: &TypeTable, files: &[(String, SpecFile)]) {
    let mut rust_names: BTreeMap<String, String> = FAMILIES
        .iter()
        .map(|n| ((*n).to_owned(), "a family of pushes".to_owned()))
        .collect();
    let mut names = BTreeSet::new();
    let mut wires: BTreeMap<(&str, String), String> = BTreeMap::new();
    for (file, spec) in files {
        if spec.has_pushes()
            && (!spec.endpoints.is_empty() || !spec.types.is_empty() || !spec.errors.is_empty())
        {
            r.at(
                file,
                "pushes",
                None,
                "a file with `user_messages` or `events` describes nothing else: move `endpoints`, `types` and `errors` to another file",
            );
        }
        for (family, list, suffix) in [
            ("user message", &spec.user_messages, "Message"),
            ("event", &spec.events, "Event"),
        ] {
            for push in list {
                let entry = format!("{family} `{}`", push.name);
                check_push(r, file, &entry, family, push);
                if !names.insert((family, push.name.as_str())) {
                    r.at(
                        file,
                        &entry,
                        None,
                        format!("another {family} has this name"),
                    );
                }
                let wire = push.wire.clone().unwrap_or_else(|| push.name.clone());
                if let Some(other) =
                    wires.insert((family, wire.to_ascii_lowercase()), entry.clone())
                {
                    r.at(
                        file,
                        &entry,
                        None,
                        format!("its wire value `{wire}` is also that of {other} (kinds are matched ignoring case)"),
                    );
                }
                let rust = format!("{}{suffix}", push.name.to_upper_camel_case());
                if let Some(previous) = rust_names.insert(rust.clone(), entry.clone()) {
                    r.at(
                        file,
                        &entry,
                        None,
                        format!("its Rust name `{rust}` is also the name of {previous}"),
                    );
                }
                let mut rust_fields: BTreeMap<String, &str> = BTreeMap::new();
                for (name, field) in push.fields.iter() {
                    if let Some(other) = rust_fields.insert(name.to_snake_case(), name) {
                        r.at(
                            file,
                            &entry,
                            Some(name),
                            format!(
                                "its Rust name `{}` is also that of `{other}`",
                                name.to_snake_case()
                            ),
                        );
                    }
                    check_push_field(r, types, file, &entry, name, field);
                }
            }
        }
    }
}

fn check_push(r: &mut Report, file: &str, entry: &str, family: &str, push: &PushDef) {
    if !is_snake(&push.name) {
        r.at(file, entry, None, "names are snake_case");
    }
    if let Some(wire) = &push.wire {
        if wire == &push.name {
            r.at(file, entry, Some("wire"), "equals the name: leave it out");
        }
        let ok = !wire.is_empty() && wire.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            r.at(
                file,
                entry,
                Some("wire"),
                format!("`{wire}` is not a value WeChat sends: letters, digits and `_`"),
            );
        }
    }
    let wire = push.wire.as_deref().unwrap_or(&push.name);
    if family == "user message" && wire.eq_ignore_ascii_case("event") {
        r.at(
            file,
            entry,
            None,
            "`event` is the MsgType of every event: describe it under `events`",
        );
    }
    if !push.doc.starts_with(DOC_PREFIX) {
        r.at(
            file,
            entry,
            None,
            format!("doc must be an official page under {DOC_PREFIX}"),
        );
    }
}

fn check_push_field(
    r: &mut Report,
    types: &TypeTable,
    file: &str,
    entry: &str,
    name: &str,
    f: &PushFieldDef,
) {
    let xml_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !xml_name {
        r.at(
            file,
            entry,
            Some(name),
            "XML element names start with a letter and hold letters, digits and `_`",
        );
    }
    if ENVELOPE.contains(&name) {
        r.at(
            file,
            entry,
            Some(name),
            "every push has it and the runtime reads it: leave it out",
        );
    }
    let alias = types.get(f.ty.as_str()).and_then(|(_, d)| d.as_alias());
    let base = if PUSH_PRIMITIVES.contains(&f.ty.as_str()) {
        Some(f.ty.as_str())
    } else {
        alias.map(|d| d.ty.as_str())
    };
    let Some(base) = base else {
        r.at(
            file,
            entry,
            Some(name),
            format!(
                "unknown type `{}`: push fields are `string`, `integer`, `float`, or an alias of `string` or `integer`",
                f.ty
            ),
        );
        return;
    };
    if f.doc.is_none() && alias.is_none_or(|d| d.doc.is_none()) {
        r.at(
            file,
            entry,
            Some(name),
            "every field needs a `doc` with zh and en (it becomes the field's doc comment)",
        );
    }
    let example_ok = matches!(
        (&f.example, base),
        (None, _)
            | (Some(PushScalar::Str(_)), "string")
            | (Some(PushScalar::Int(_)), "integer" | "float")
            | (Some(PushScalar::Float(_)), "float")
    );
    if !example_ok {
        r.at(
            file,
            entry,
            Some(name),
            format!("`example` is not a value of type `{base}`"),
        );
    }
}

/// `limits_by` names a required query field of a closed enum, and `limits` gives every
/// one of its values, and nothing else.
fn check_limits_by(
    r: &mut Report,
    types: &TypeTable,
    file: &str,
    entry: &str,
    name: &str,
    field: &FieldDef,
    ep: &EndpointDef,
) {
    let by = field.limits_by.as_deref().unwrap_or_default();
    let Some(values) = enum_values(types, ep.query.iter(), by) else {
        r.at(
            file,
            entry,
            Some(name),
            format!("`limits_by: {by}` must name a required query field of a closed enum"),
        );
        return;
    };
    let given: Vec<&String> = field.limits.iter().map(|(k, _)| k).collect();
    if given != values {
        r.at(
            file,
            entry,
            Some(name),
            format!(
                "`limits` must give the values of `{by}` in order: {}",
                values
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

/// `required_when` is on an optional field and names one value of a required closed-enum
/// field of the same request.
fn check_required_when(
    r: &mut Report,
    types: &TypeTable,
    file: &str,
    entry: &str,
    name: &str,
    field: &FieldDef,
    ep: &EndpointDef,
) {
    if field.required != Some(false) {
        r.at(
            file,
            entry,
            Some(name),
            "`required_when` applies to optional fields (`required: false`)",
        );
    }
    let entries: Vec<(&String, &String)> = field.required_when.iter().collect();
    let [(when, value)] = entries.as_slice() else {
        r.at(
            file,
            entry,
            Some(name),
            "`required_when` names one field and one value: `{ type: video }`",
        );
        return;
    };
    match enum_values(types, ep.query.iter().chain(ep.body.iter()), when) {
        None => r.at(
            file,
            entry,
            Some(name),
            format!("`required_when: {{ {when}: … }}` must name a required field of a closed enum"),
        ),
        Some(values) if !values.contains(value) => r.at(
            file,
            entry,
            Some(name),
            format!("`{value}` is not a value of `{when}`"),
        ),
        Some(_) => {}
    }
}

/// The values of the field `name` among `fields`, if it is a required closed enum.
fn enum_values<'a>(
    types: &'a TypeTable,
    mut fields: impl Iterator<Item = (&'a String, &'a FieldDef)>,
    name: &str,
) -> Option<Vec<&'a String>> {
    fields
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
        .filter(|f| f.required != Some(false))
        .and_then(|f| match types.get(f.ty.as_str()) {
            Some((_, TypeDef::Enum(d))) => Some(d.values.iter().map(|(k, _)| k).collect()),
            _ => None,
        })
}

/// A list of permission-set ids: each a positive number, none twice. (An endpoint's empty
/// list says that none is known, overriding its file's.)
fn permission_sets(r: &mut Report, file: &str, entry: Option<&str>, sets: &[i64]) {
    let mut seen = BTreeSet::new();
    for &id in sets {
        if !(1..=i64::from(u32::MAX)).contains(&id) {
            r.at(file, entry.unwrap_or("permission_sets"), Some("permission_sets"), format!(
                "permission set {id} is not a set's id (a positive number, as the 权限集 pages number them)"
            ));
        } else if !seen.insert(id) {
            r.at(
                file,
                entry.unwrap_or("permission_sets"),
                Some("permission_sets"),
                format!("permission set {id} is listed twice"),
            );
        }
    }
}
