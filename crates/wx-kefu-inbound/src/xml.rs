//! The XML of pushes, read with quick-xml and nothing resolved: a `<!DOCTYPE>` is refused
//! outright, an entity other than the five predefined ones is refused, and depth and
//! element count are bounded. What comes out is the flat list of fields WeChat sends.
//!
//! Also the few lines of XML writing the replies need (CDATA that cannot be broken out of).

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event as XmlEvent;

use crate::error::{Error, Result};

/// How deep the XML may nest (`<xml>` is level 1).
pub const MAX_DEPTH: usize = 8;
/// How many elements the XML may hold.
pub const MAX_ELEMENTS: usize = 512;

/// The fields of a push, in document order: `<xml><Name>value</Name>…</xml>`.
///
/// A nested element is named by its path (`TransInfo/KfAccount`). A top-level field appears
/// at most once (a second one is refused); nested ones may repeat (lists).
#[derive(Clone, Default)]
pub struct Fields {
    /// The document the fields were read from: names and values are spans of it where
    /// they were read in place, so reading a push copies it once, not field by field.
    source: String,
    /// What is not in `source` (a nested path, text joined from several pieces).
    extra: String,
    entries: Vec<(Span, Span)>,
}

/// Where a name or a value lies: in [`Fields::source`] or in [`Fields::extra`].
#[derive(Debug, Clone, Copy)]
struct Span {
    in_extra: bool,
    start: usize,
    end: usize,
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("entries", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

/// Equal when they hold the same fields in the same order, however they were read.
impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

impl Fields {
    /// Fields from name–value pairs (for tests and tools; [`parse`] reads them from XML).
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Fields {
        let mut fields = Fields::default();
        for (name, value) in pairs {
            let name = piece("", &mut fields.extra, Cow::Owned(name.into()));
            let value = piece("", &mut fields.extra, Cow::Owned(value.into()));
            fields.entries.push((name, value));
        }
        fields
    }

    fn text(&self, span: Span) -> &str {
        let text = match span.in_extra {
            true => &self.extra,
            false => &self.source,
        };
        text.get(span.start..span.end).unwrap_or_default()
    }

    fn bytes(&self, span: Span) -> Option<&[u8]> {
        let text = match span.in_extra {
            true => &self.extra,
            false => &self.source,
        };
        text.as_bytes().get(span.start..span.end)
    }

    /// The value of the first field of this name (or path).
    pub fn get(&self, name: &str) -> Option<&str> {
        // Lengths first: most names differ in length, and no text is sliced for them; the
        // rest compare as bytes (a span always lies on character boundaries).
        let name = name.as_bytes();
        self.entries
            .iter()
            .find(|(n, _)| n.end - n.start == name.len() && self.bytes(*n) == Some(name))
            .map(|(_, value)| self.text(*value))
    }

    /// Every field, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(name, value)| (self.text(*name), self.text(*value)))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decodes a message or an event of a known kind from these fields.
    pub fn decode<T: crate::FromFields>(&self) -> Result<T> {
        T::from_fields(self)
    }

    /// A required text field.
    pub fn string(&self, name: &str) -> Result<String> {
        self.get(name)
            .map(str::to_owned)
            .ok_or_else(|| Error::MissingField(name.to_owned()))
    }

    /// An optional text field.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name).map(str::to_owned))
    }

    /// A required integer field (surrounding whitespace allowed).
    pub fn integer(&self, name: &str) -> Result<i64> {
        self.opt_integer(name)?
            .ok_or_else(|| Error::MissingField(name.to_owned()))
    }

    /// An optional integer field; present but empty counts as absent.
    pub fn opt_integer(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| Error::BadField {
                field: name.to_owned(),
                value: text.to_owned(),
                expected: "an integer",
            }),
        }
    }

    /// A required decimal field (coordinates).
    pub fn float(&self, name: &str) -> Result<f64> {
        self.opt_float(name)?
            .ok_or_else(|| Error::MissingField(name.to_owned()))
    }

    /// An optional decimal field; present but empty counts as absent.
    pub fn opt_float(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Some(value)),
                _ => Err(Error::BadField {
                    field: name.to_owned(),
                    value: text.to_owned(),
                    expected: "a decimal number",
                }),
            },
        }
    }
}

/// The elements open, innermost last (at most [`MAX_DEPTH`], on the stack), and the text
/// of the innermost one: only a leaf is a field, so only the innermost element's text is
/// ever kept (an element that opens a child is no field, whatever text it has).
struct Stack<'a> {
    names: [&'a str; MAX_DEPTH],
    len: usize,
    /// Every piece of text of the innermost element since it opened, in order: borrowed
    /// from the document while there is one piece read in place (a CDATA section, as
    /// WeChat sends), owned once pieces join.
    text: Cow<'a, str>,
    had_cdata: bool,
    /// Whether the innermost element opened no child: set when an element opens, cleared
    /// when one closes (its parent has had a child).
    leaf: bool,
    /// The whitespace-only pieces outside CDATA (pretty printing) in `text`, as ranges;
    /// empty for what WeChat sends.
    whitespace: Vec<std::ops::Range<usize>>,
}

impl Default for Stack<'_> {
    fn default() -> Self {
        Stack {
            names: [""; MAX_DEPTH],
            len: 0,
            text: Cow::Borrowed(""),
            had_cdata: false,
            leaf: false,
            whitespace: Vec::new(),
        }
    }
}

impl<'a> Stack<'a> {
    /// Opens an element; the caller has checked the depth.
    fn open(&mut self, name: &'a str) {
        if let Some(slot) = self.names.get_mut(self.len) {
            *slot = name;
            self.len += 1;
        }
        self.text = Cow::Borrowed("");
        self.had_cdata = false;
        self.leaf = true;
        self.whitespace.clear();
    }

    /// Adds a piece of text to the innermost element; `false` when none is open.
    fn push(&mut self, piece: Cow<'a, str>, whitespace: bool, cdata: bool) -> bool {
        if self.len == 0 {
            return false;
        }
        if whitespace {
            let at = self.text.len();
            self.whitespace.push(at..at + piece.len());
        }
        if self.text.is_empty() {
            self.text = piece;
        } else {
            self.text.to_mut().push_str(&piece);
        }
        self.had_cdata |= cdata;
        true
    }

    /// Closes the innermost element: its path and value when it is a field (a leaf below
    /// the root), `None` otherwise; `Err` when no element is open.
    fn close(&mut self) -> Result<Option<(Cow<'a, str>, Cow<'a, str>)>> {
        let at = self
            .len
            .checked_sub(1)
            .ok_or_else(|| Error::Xml("an end tag without a start".into()))?;
        self.len = at;
        let leaf = std::mem::replace(&mut self.leaf, false);
        let text = std::mem::take(&mut self.text);
        if at == 0 || !leaf {
            return Ok(None);
        }
        // The value: every piece, except that whitespace around CDATA sections (pretty
        // printing) is dropped, so a value in CDATA keeps exactly its text.
        let value = if !self.had_cdata || self.whitespace.is_empty() {
            text
        } else {
            let mut value = String::with_capacity(text.len());
            let mut from = 0;
            for range in &self.whitespace {
                value.push_str(&text[from..range.start]);
                from = range.end;
            }
            value.push_str(&text[from..]);
            Cow::Owned(value)
        };
        // A top-level field is named by itself, a nested one by its path from the root.
        let path = match at {
            1 => Cow::Borrowed(self.names[1]),
            _ => Cow::Owned(self.names[1..=at].join("/")),
        };
        Ok(Some((path, value)))
    }
}

/// The names of the top-level fields seen: a few inline, the rest (never, from WeChat)
/// in a vector.
#[derive(Default)]
struct Names<'a> {
    inline: [&'a str; 16],
    len: usize,
    more: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn contains(&self, name: &str) -> bool {
        self.inline[..self.len].contains(&name) || self.more.contains(&name)
    }

    fn push(&mut self, name: &'a str) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = name;
                self.len += 1;
            }
            None => self.more.push(name),
        }
    }
}

fn xml_error(error: impl std::fmt::Display) -> Error {
    Error::Xml(error.to_string())
}

/// Reads the fields of `<xml>…</xml>`.
///
/// Refuses a DOCTYPE, any entity other than the five predefined ones (character references
/// are decoded), processing instructions, a root other than `<xml>`, more than one root,
/// nesting deeper than [`MAX_DEPTH`], more than [`MAX_ELEMENTS`] elements and a top-level
/// field given twice. The body's size is bounded by the caller, before this runs.
pub fn parse(text: &str) -> Result<Fields> {
    parse_owned(text.to_owned(), 0)
}

/// [`parse`] of `text[start..]`, keeping `text` itself as the fields' source: no copy of
/// the document.
pub(crate) fn parse_owned(source: String, start: usize) -> Result<Fields> {
    let document = source
        .get(start..)
        .ok_or_else(|| Error::Xml("the document starts past its end".into()))?;
    let mut extra = String::new();
    let mut entries = Vec::with_capacity(12);
    read(document, |path, value| {
        // Spans of `source` are kept as offsets; anything else goes into `extra`.
        let path = piece(&source, &mut extra, path);
        entries.push((path, piece(&source, &mut extra, value)));
    })?;
    Ok(Fields {
        source,
        extra,
        entries,
    })
}

/// The span of `part` in `source`, or of a copy appended to `extra`.
fn piece(source: &str, extra: &mut String, part: Cow<'_, str>) -> Span {
    if let Cow::Borrowed(borrowed) = &part
        && let Some(start) = offset_within(source, borrowed)
    {
        return Span {
            in_extra: false,
            start,
            end: start + borrowed.len(),
        };
    }
    let start = extra.len();
    extra.push_str(&part);
    Span {
        in_extra: true,
        start,
        end: extra.len(),
    }
}

/// Reads `text` as [`parse`] does, with the same refusals, handing each field to `field`
/// as it ends: its path and value, borrowed from `text` where they were read in place.
pub(crate) fn read<'a>(
    text: &'a str,
    mut field: impl FnMut(Cow<'a, str>, Cow<'a, str>),
) -> Result<()> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = true;
    // XML 1.0 reads every `\r\n` and lone `\r` as `\n`; a document with no `\r` at all
    // (what WeChat sends) needs no piece normalised, so the pieces are not scanned again.
    let carriage_returns = memchr::memchr(b'\r', text.as_bytes()).is_some();
    let mut stack = Stack::default();
    let mut top_level = Names::default();
    let mut elements = 0usize;
    let mut root_done = false;
    loop {
        match reader.read_event().map_err(xml_error)? {
            XmlEvent::DocType(_) => return Err(Error::Doctype),
            XmlEvent::PI(_) => return Err(Error::ProcessingInstruction),
            XmlEvent::Decl(_) | XmlEvent::Comment(_) => {}
            XmlEvent::Start(start) => {
                if root_done {
                    return Err(Error::Xml("content after the root element".into()));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(Error::TooManyElements(MAX_ELEMENTS));
                }
                if stack.len >= MAX_DEPTH {
                    return Err(Error::TooDeep(MAX_DEPTH));
                }
                // The name as written in the document (the reader reads it in place), so
                // that a field's name is borrowed until the field is kept.
                let name = within(text, start.name().into_inner())
                    .ok_or_else(|| Error::Xml("a tag name not read in place".into()))?;
                match stack.len {
                    0 if name != "xml" => return Err(Error::NotXmlRoot(name.to_owned())),
                    0 => {}
                    depth => {
                        if depth == 1 {
                            if top_level.contains(name) {
                                return Err(Error::DuplicateField(name.to_owned()));
                            }
                            top_level.push(name);
                        }
                    }
                }
                stack.open(name);
            }
            XmlEvent::End(_) => {
                if let Some((path, value)) = stack.close()? {
                    field(path, value);
                } else if stack.len == 0 {
                    root_done = true;
                }
            }
            XmlEvent::Empty(_) => {
                // `expand_empty_elements` turns `<a/>` into Start + End.
                return Err(Error::Xml("unexpected empty element".into()));
            }
            XmlEvent::Text(piece) => {
                let content = match carriage_returns {
                    true => piece.xml10_content(),
                    false => piece.into_inner(),
                };
                let whitespace = content.trim().is_empty();
                if !stack.push(content, whitespace, false) && !whitespace {
                    return Err(Error::Xml("text outside the root element".into()));
                }
            }
            XmlEvent::CData(cdata) => {
                let content = match carriage_returns {
                    true => cdata.xml10_content(),
                    false => cdata.into_inner(),
                };
                if !stack.push(content, false, true) {
                    return Err(Error::Xml("CDATA outside the root element".into()));
                }
            }
            XmlEvent::GeneralRef(reference) => {
                let resolved: String = if reference.is_char_ref() {
                    match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(Error::Entity(reference.to_string())),
                    }
                } else {
                    match resolve_xml_entity(&reference) {
                        Some(s) => s.to_owned(),
                        None => return Err(Error::Entity(reference.to_string())),
                    }
                };
                if !stack.push(Cow::Owned(resolved), false, false) {
                    return Err(Error::Entity(reference.to_string()));
                }
            }
            XmlEvent::Eof => break,
        }
    }
    if stack.len != 0 || !root_done {
        return Err(Error::Xml("the document ends before </xml>".into()));
    }
    Ok(())
}

/// `part`, a slice of `text`'s own memory, as a slice of `text` (so with its lifetime);
/// `None` for a slice of anything else.
fn within<'a>(text: &'a str, part: &str) -> Option<&'a str> {
    let start = offset_within(text, part)?;
    text.get(start..start + part.len())
}

/// Where `part` starts in `text`, when it is a slice of `text`'s own memory.
///
/// Such a slice lies on `text`'s character boundaries by itself: it is valid UTF-8, so it
/// neither starts nor ends inside a character of the memory it shares with `text`.
fn offset_within(text: &str, part: &str) -> Option<usize> {
    let offset = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let end = offset.checked_add(part.len())?;
    (end <= text.len()).then_some(offset)
}

/// `text` as a CDATA section that cannot be closed early: every `]]>` inside is split
/// across two sections.
pub fn cdata(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 12);
    push_cdata(&mut out, text);
    out
}

/// Appends `<![CDATA[text]]>` to `out`, splitting any `]]>` in `text` so that it cannot
/// close the section.
pub(crate) fn push_cdata(out: &mut String, text: &str) {
    out.push_str("<![CDATA[");
    // Most text holds no `]` at all (a ciphertext, a signature, an openid): no search.
    if !text.as_bytes().contains(&b']') {
        out.push_str(text);
    } else {
        let mut rest = text;
        while let Some(at) = rest.find("]]>") {
            out.push_str(&rest[..at]);
            out.push_str("]]]]><![CDATA[>");
            rest = &rest[at + 3..];
        }
        out.push_str(rest);
    }
    out.push_str("]]>");
}

/// Appends `value` in decimal to `out`, without the formatting machinery.
pub(crate) fn push_integer(out: &mut String, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        // `rest % 10` is a digit.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_read_as_xml_1_0_says_and_a_character_reference_stays() {
        let fields = parse(
            "<xml>\r\n<A><![CDATA[a\r\nb\rc]]></A><B>d\r\ne</B><C>&#13;</C><D>f\ng</D></xml>",
        )
        .unwrap();
        assert_eq!(fields.get("A"), Some("a\nb\nc"));
        assert_eq!(fields.get("B"), Some("d\ne"));
        assert_eq!(fields.get("C"), Some("\r"));
        assert_eq!(fields.get("D"), Some("f\ng"));
        // With no `\r` anywhere, every value is read in place, as written.
        let fields = parse("<xml><A><![CDATA[a\nb]]></A><B>c d</B></xml>").unwrap();
        assert_eq!(fields.get("A"), Some("a\nb"));
        assert_eq!(fields.get("B"), Some("c d"));
    }

    #[test]
    fn integers_and_cdata_are_written_as_format_would() {
        for value in [0, 7, -7, 1_764_547_200, i64::MIN, i64::MAX] {
            let mut out = String::from("x");
            push_integer(&mut out, value);
            assert_eq!(out, format!("x{value}"));
        }
        for text in ["", "plain", "a]b", "]]>", "x]]>y]]>", "]]]]>"] {
            let mut out = String::new();
            push_cdata(&mut out, text);
            let escaped = format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"));
            assert_eq!(out, escaped, "{text:?}");
            assert_eq!(cdata(text), escaped);
        }
    }
}
