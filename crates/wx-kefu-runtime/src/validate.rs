//! Validation of requests before any I/O: the checks generated `validate()` methods call,
//! and the typed [`Invalid`] error naming the field and the rule it broke.

use std::fmt;
use std::sync::OnceLock;

use regex_lite::Regex;

/// A request broke one of the spec's rules; raised before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field's path on the wire, e.g. `kf_account` or `news.articles`.
    pub field: String,
    /// The rule that was broken.
    pub rule: Rule,
}

/// A validation rule, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// A required value is missing or empty.
    Required,
    /// Fewer characters than allowed.
    MinChars {
        /// The fewest allowed.
        min: u32,
        /// The length found.
        actual: usize,
    },
    /// More characters than allowed.
    MaxChars {
        /// The most allowed.
        max: u32,
        /// The length found.
        actual: usize,
    },
    /// The value does not match the field's pattern.
    Pattern {
        /// The pattern, as written in the spec.
        pattern: &'static str,
        /// What the pattern means, in words.
        hint: &'static str,
    },
    /// An integer outside its range.
    Range {
        /// The smallest allowed, if bounded below.
        min: Option<i64>,
        /// The largest allowed, if bounded above.
        max: Option<i64>,
        /// The value found.
        actual: i64,
    },
    /// An array with too few or too many items.
    Items {
        /// The fewest allowed.
        min: Option<u32>,
        /// The most allowed.
        max: Option<u32>,
        /// The count found.
        actual: usize,
    },
    /// Two fields too far apart, or in the wrong order (`0 <= end - start <= max`).
    Span {
        /// The start field.
        start: &'static str,
        /// The end field.
        end: &'static str,
        /// The largest allowed difference.
        max: i64,
        /// The difference found.
        actual: i64,
    },
    /// A text longer than allowed in UTF-8 bytes (a limit WeChat counts in bytes, not
    /// characters: a Chinese character is 3).
    MaxBytes {
        /// The most allowed, in bytes.
        max: u64,
        /// The length found, in bytes.
        actual: usize,
    },
    /// A file larger than allowed.
    FileTooLarge {
        /// The most allowed, in bytes.
        max: u64,
        /// The size found, in bytes (at least this much).
        actual: u64,
    },
    /// An empty file: there is nothing to upload.
    FileEmpty,
    /// A file of the wrong kind (by its first bytes).
    FileType {
        /// The expected kind.
        expected: &'static str,
    },
}

impl Rule {
    /// The spec's name of the rule broken (`max_chars`, `pattern`, `min` …), under which a
    /// field may give it an errcode of its own (`rule_errcodes`); `None` for a missing value
    /// and a span.
    pub fn key(&self) -> Option<&'static str> {
        Some(match self {
            Rule::Required | Rule::Span { .. } => return None,
            Rule::MinChars { .. } => "min_chars",
            Rule::MaxChars { .. } => "max_chars",
            Rule::MaxBytes { .. } | Rule::FileTooLarge { .. } => "max_bytes",
            Rule::Pattern { .. } => "pattern",
            Rule::Range { min, actual, .. } => match min {
                Some(min) if actual < min => "min",
                _ => "max",
            },
            Rule::Items { min, actual, .. } => match min {
                Some(min) if *actual < *min as usize => "min_items",
                _ => "max_items",
            },
            Rule::FileEmpty | Rule::FileType { .. } => "file_kind",
        })
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.rule {
            Rule::Required => write!(f, "`{field}` is required and must not be empty"),
            Rule::MinChars { min, actual } => {
                write!(
                    f,
                    "`{field}` must have at least {min} characters, has {actual}"
                )
            }
            Rule::MaxChars { max, actual } => {
                write!(
                    f,
                    "`{field}` must have at most {max} characters, has {actual}"
                )
            }
            Rule::Pattern { pattern, hint } => {
                write!(f, "`{field}` is malformed: {hint} (pattern `{pattern}`)")
            }
            Rule::Range { min, max, actual } => match (min, max) {
                (Some(min), Some(max)) => {
                    write!(f, "`{field}` must be between {min} and {max}, is {actual}")
                }
                (Some(min), None) => write!(f, "`{field}` must be at least {min}, is {actual}"),
                (None, Some(max)) => write!(f, "`{field}` must be at most {max}, is {actual}"),
                (None, None) => write!(f, "`{field}` is out of range: {actual}"),
            },
            Rule::Items { min, max, actual } => match (min, max) {
                (Some(min), Some(max)) if min == max => {
                    write!(f, "`{field}` must have exactly {min} item(s), has {actual}")
                }
                (min, max) => write!(
                    f,
                    "`{field}` must have {}{} items, has {actual}",
                    min.map(|m| format!("at least {m}")).unwrap_or_default(),
                    max.map(|m| format!("{}at most {m}", if min.is_some() { " and " } else { "" }))
                        .unwrap_or_default(),
                ),
            },
            Rule::Span {
                start,
                end,
                max,
                actual,
            } => write!(
                f,
                "`{end}` - `{start}` must be between 0 and {max}, is {actual}"
            ),
            Rule::MaxBytes { max, actual } => write!(
                f,
                "`{field}` is {actual} bytes of UTF-8, more than the {max} allowed (a Chinese character is 3)"
            ),
            Rule::FileTooLarge { max, actual } => {
                write!(
                    f,
                    "`{field}` is {actual} bytes, more than the {max} allowed"
                )
            }
            Rule::FileEmpty => write!(f, "`{field}` is an empty file: nothing to upload"),
            Rule::FileType { expected } => write!(f, "`{field}` is not a {expected} file"),
        }
    }
}

impl std::error::Error for Invalid {}

/// Checks the spec's rules on a value: implemented by every generated request and nested type.
pub trait Validate {
    /// The first rule the value breaks, naming the field by its wire path.
    fn validate(&self) -> Result<(), Invalid>;
}

/// A regular expression from the spec, compiled on first use.
#[derive(Debug)]
pub struct Pattern {
    source: &'static str,
    hint: &'static str,
    compiled: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// A pattern with its source (anchored by the spec) and a description in words.
    pub const fn new(source: &'static str, hint: &'static str) -> Self {
        Pattern {
            source,
            hint,
            compiled: OnceLock::new(),
        }
    }

    /// The pattern as written in the spec.
    pub const fn source(&self) -> &'static str {
        self.source
    }

    /// What the pattern means, in words.
    pub const fn hint(&self) -> &'static str {
        self.hint
    }

    /// Whether `value` matches. The generator has compiled every pattern of the spec,
    /// so a pattern that fails to compile here cannot happen; it would match nothing.
    pub fn is_match(&self, value: &str) -> bool {
        self.compiled
            .get_or_init(|| Regex::new(self.source).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(value))
    }
}

fn invalid(field: &str, rule: Rule) -> Invalid {
    Invalid {
        field: field.to_owned(),
        rule,
    }
}

/// The character count (Unicode scalar values) of `value` lies in `min..=max`.
pub fn chars(field: &str, value: &str, min: Option<u32>, max: Option<u32>) -> Result<(), Invalid> {
    // A character takes 1 to 4 bytes, so `value` has between len/4 (rounded up) and len
    // characters: when those settle both bounds, the characters need not be counted.
    let bytes = value.len();
    if min.is_none_or(|min| bytes.div_ceil(4) >= min as usize)
        && max.is_none_or(|max| bytes <= max as usize)
    {
        return Ok(());
    }
    let actual = value.chars().count();
    if let Some(min) = min
        && actual < min as usize
    {
        return Err(if actual == 0 {
            invalid(field, Rule::Required)
        } else {
            invalid(field, Rule::MinChars { min, actual })
        });
    }
    if let Some(max) = max
        && actual > max as usize
    {
        return Err(invalid(field, Rule::MaxChars { max, actual }));
    }
    Ok(())
}

/// `value` matches `pattern`.
pub fn pattern(field: &str, value: &str, pattern: &'static Pattern) -> Result<(), Invalid> {
    if pattern.is_match(value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            Rule::Pattern {
                pattern: pattern.source,
                hint: pattern.hint,
            },
        ))
    }
}

/// `value` lies in `min..=max`.
pub fn range(field: &str, value: i64, min: Option<i64>, max: Option<i64>) -> Result<(), Invalid> {
    let low = min.is_some_and(|m| value < m);
    let high = max.is_some_and(|m| value > m);
    if low || high {
        Err(invalid(
            field,
            Rule::Range {
                min,
                max,
                actual: value,
            },
        ))
    } else {
        Ok(())
    }
}

/// The item count `actual` lies in `min..=max`.
pub fn items(
    field: &str,
    actual: usize,
    min: Option<u32>,
    max: Option<u32>,
) -> Result<(), Invalid> {
    let low = min.is_some_and(|m| actual < m as usize);
    let high = max.is_some_and(|m| actual > m as usize);
    if low || high {
        Err(invalid(field, Rule::Items { min, max, actual }))
    } else {
        Ok(())
    }
}

/// A field that must be given here (an optional field another field's value requires).
pub fn present(field: &'static str, present: bool) -> Result<(), Invalid> {
    match present {
        true => Ok(()),
        false => Err(Invalid {
            field: field.to_owned(),
            rule: Rule::Required,
        }),
    }
}

/// `0 <= end - start <= max`; reported on the end field.
pub fn span(
    start_field: &'static str,
    start: i64,
    end_field: &'static str,
    end: i64,
    max: i64,
) -> Result<(), Invalid> {
    let actual = end.saturating_sub(start);
    if (0..=max).contains(&actual) {
        Ok(())
    } else {
        Err(invalid(
            end_field,
            Rule::Span {
                start: start_field,
                end: end_field,
                max,
                actual,
            },
        ))
    }
}

/// A text's length in UTF-8 bytes, for a limit WeChat counts in bytes.
pub fn bytes(field: &str, value: &str, max: u64) -> Result<(), Invalid> {
    if value.len() as u64 > max {
        return Err(invalid(
            field,
            Rule::MaxBytes {
                max,
                actual: value.len(),
            },
        ));
    }
    Ok(())
}

/// The kind of a map's key: the key less its trailing ASCII digits (`thing12` → `thing`,
/// `character_string3` → `character_string`), whose rule its value follows.
pub fn key_kind(key: &str) -> &str {
    key.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// Prefixes the field path of an error from a nested value (`news` + `articles`).
pub fn nested(parent: &str, result: Result<(), Invalid>) -> Result<(), Invalid> {
    result.map_err(|mut e| {
        e.field = format!("{parent}.{}", e.field);
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_rule_names_its_spec_key() {
        let range = |actual| Rule::Range {
            min: Some(1),
            max: Some(9),
            actual,
        };
        assert_eq!(range(0).key(), Some("min"));
        assert_eq!(range(10).key(), Some("max"));
        let items = |actual| Rule::Items {
            min: Some(1),
            max: Some(2),
            actual,
        };
        assert_eq!(items(0).key(), Some("min_items"));
        assert_eq!(items(3).key(), Some("max_items"));
        assert_eq!(
            Rule::MaxBytes { max: 1, actual: 2 }.key(),
            Some("max_bytes")
        );
        assert_eq!(Rule::Required.key(), None);
    }

    static KF: Pattern = Pattern::new(r"^[A-Za-z0-9_]{1,10}@[^@\s]{1,30}$", "prefix@wechat_id");

    #[test]
    fn chars_decides_as_a_full_count_would() {
        let pieces = ["", "a", "é", "客", "😀", "ab", "客a", "😀😀", "a客😀é"];
        let mut values = Vec::new();
        for a in pieces {
            for b in pieces {
                values.push(format!("{a}{b}{a}"));
            }
        }
        for value in &values {
            let count = value.chars().count();
            for min in [None, Some(0), Some(1), Some(2), Some(3), Some(5), Some(8)] {
                for max in [None, Some(0), Some(1), Some(2), Some(4), Some(6), Some(12)] {
                    let expected = min.is_none_or(|m| count >= m as usize)
                        && max.is_none_or(|m| count <= m as usize);
                    assert_eq!(
                        chars("f", value, min, max).is_ok(),
                        expected,
                        "{value:?} {min:?} {max:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn chars_count_characters_not_bytes() {
        assert!(
            chars(
                "nickname",
                "客服小王客服小王客服小王客服小王",
                Some(1),
                Some(16)
            )
            .is_ok()
        );
        let err = chars(
            "nickname",
            "客服小王客服小王客服小王客服小王多",
            Some(1),
            Some(16),
        )
        .unwrap_err();
        assert_eq!(
            err.rule,
            Rule::MaxChars {
                max: 16,
                actual: 17
            }
        );
        assert_eq!(
            chars("nickname", "", Some(1), None).unwrap_err().rule,
            Rule::Required
        );
    }

    #[test]
    fn a_byte_limit_counts_utf8_bytes_not_characters() {
        assert!(bytes("content", "你好", 6).is_ok());
        assert_eq!(
            bytes("content", "你好!", 6).unwrap_err().rule,
            Rule::MaxBytes { max: 6, actual: 7 }
        );
    }

    #[test]
    fn patterns_and_ranges() {
        assert!(pattern("kf_account", "test1@gh_abc", &KF).is_ok());
        assert_eq!(
            pattern("kf_account", "toolongprefix1@x", &KF)
                .unwrap_err()
                .rule,
            Rule::Pattern {
                pattern: KF.source(),
                hint: KF.hint()
            }
        );
        assert_eq!(
            range("number", 10_001, Some(1), Some(10_000))
                .unwrap_err()
                .rule,
            Rule::Range {
                min: Some(1),
                max: Some(10_000),
                actual: 10_001
            }
        );
        assert!(range("number", 10_000, Some(1), Some(10_000)).is_ok());
        assert_eq!(
            items("articles", 2, Some(1), Some(1)).unwrap_err().rule,
            Rule::Items {
                min: Some(1),
                max: Some(1),
                actual: 2
            }
        );
        let span_of = |start, end| span("starttime", start, "endtime", end, 86_400).unwrap_err();
        let too_wide = span_of(0, 86_401);
        assert_eq!(
            (too_wide.field.as_str(), too_wide.rule),
            (
                "endtime",
                Rule::Span {
                    start: "starttime",
                    end: "endtime",
                    max: 86_400,
                    actual: 86_401
                }
            )
        );
        assert_eq!(
            span_of(10, 5).rule,
            Rule::Span {
                start: "starttime",
                end: "endtime",
                max: 86_400,
                actual: -5
            }
        );
        let shown = nested("news", items("articles", 2, Some(1), Some(1))).unwrap_err();
        assert_eq!(shown.field, "news.articles");
        assert_eq!(
            shown.to_string(),
            "`news.articles` must have exactly 1 item(s), has 2"
        );
    }
}
