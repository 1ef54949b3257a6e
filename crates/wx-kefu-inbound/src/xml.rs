//! The XML of pushes, read with quick-xml and nothing resolved: a `<!DOCTYPE>` is refused
//! outright, an entity other than the five predefined ones is refused, and depth and
//! element count are bounded. What comes out is the flat list of fields WeChat sends.
//!
//! Also the few lines of XML writing the replies need (CDATA that cannot be broken out of).

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event as XmlEvent;

use crate::error::{Error, Result, echo};

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

    /// The buffer a span lies in.
    fn buffer(&self, span: Span) -> &str {
        match span.in_extra {
            true => &self.extra,
            false => &self.source,
        }
    }

    fn text(&self, span: Span) -> &str {
        self.buffer(span)
            .get(span.start..span.end)
            .unwrap_or_default()
    }

    fn bytes(&self, span: Span) -> Option<&[u8]> {
        self.buffer(span).as_bytes().get(span.start..span.end)
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
                value: echo(text),
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
                    value: echo(text),
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
    Error::Xml(echo(&error.to_string()))
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
    let mut entries = Vec::with_capacity(12);
    let in_place =
        |name: Range<usize>, value: Range<usize>| (span(start, name), span(start, value));
    if read_flat(document, |name, value| entries.push(in_place(name, value))).is_some() {
        return Ok(Fields {
            source,
            extra: String::new(),
            entries,
        });
    }
    entries.clear();
    let mut extra = String::new();
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

/// `range` of a document that starts at `start` of the source, as a span of the source.
fn span(start: usize, range: Range<usize>) -> Span {
    Span {
        in_extra: false,
        start: start + range.start,
        end: start + range.end,
    }
}

/// How many fields [`read_flat`] reads before it leaves a document to [`read`].
const FLAT_FIELDS: usize = 32;

/// Reads a document of the one shape WeChat sends, without the general reader: `<xml>`,
/// then flat fields `<Name>value</Name>` (an ASCII name, the value one CDATA section or
/// text holding no markup, no reference and no `>` or `]`), spaces, tabs and newlines
/// between them, `</xml>`, then only whitespace. Each field goes to `field` (the ranges
/// of its name and value in `text`) as it is read.
///
/// `None`, at the first thing outside that shape, leaves the document to [`read`], which
/// reads or refuses it; that includes every refusal (a DOCTYPE, a reference, a repeated
/// field, depth, size) and every `\r` (line ends to normalise). So a document read here
/// is one [`read`] reads to the same fields, only faster: a test holds the two to that.
fn read_flat(text: &str, mut field: impl FnMut(Range<usize>, Range<usize>)) -> Option<()> {
    let bytes = text.as_bytes();
    if memchr::memchr(b'\r', bytes).is_some() {
        return None;
    }
    let mut at = b"<xml>".len();
    if !bytes.starts_with(b"<xml>") {
        return None;
    }
    // Where each name seen starts, and its length.
    let mut names = [(0, 0); FLAT_FIELDS];
    let mut count = 0;
    let skip_space = |mut at: usize| {
        while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n')) {
            at += 1;
        }
        at
    };
    loop {
        at = skip_space(at);
        let rest = bytes.get(at..)?;
        if rest.starts_with(b"</xml>") {
            return (skip_space(at + b"</xml>".len()) == bytes.len()).then_some(());
        }
        // `<Name>`
        if rest.first() != Some(&b'<') || !rest.get(1)?.is_ascii_alphabetic() {
            return None;
        }
        let name_at = at + 1;
        let name_len = rest[1..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))?;
        let name = name_at..name_at + name_len;
        if bytes.get(name.end) != Some(&b'>') || count == FLAT_FIELDS {
            return None;
        }
        let name_bytes = &bytes[name.clone()];
        if names[..count]
            .iter()
            .any(|&(start, len)| bytes.get(start..start + len) == Some(name_bytes))
        {
            return None;
        }
        at = name.end + 1;
        // The value: one CDATA section, or plain text up to the end tag.
        let value = if bytes.get(at..)?.starts_with(b"<![CDATA[") {
            let from = at + b"<![CDATA[".len();
            let mut end = from;
            loop {
                end += memchr::memchr(b']', bytes.get(end..)?)?;
                if bytes.get(end..)?.starts_with(b"]]>") {
                    break;
                }
                end += 1;
            }
            at = end + b"]]>".len();
            from..end
        } else {
            let len = bytes[at..]
                .iter()
                .position(|&b| matches!(b, b'<' | b'&' | b'>' | b']'))?;
            let value = at..at + len;
            at += len;
            value
        };
        // `</Name>`
        let end_tag = bytes.get(at..)?;
        if !(end_tag.starts_with(b"</")
            && end_tag.get(2..2 + name_len) == Some(name_bytes)
            && end_tag.get(2 + name_len) == Some(&b'>'))
        {
            return None;
        }
        at += name_len + 3;
        field(name, value);
        names[count] = (name_at, name_len);
        count += 1;
    }
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
    // WeChat's shape first, its fields held back until the whole document is read so.
    let mut flat: [(&str, &str); FLAT_FIELDS] = [("", ""); FLAT_FIELDS];
    let (mut count, mut whole) = (0, true);
    let read_so = read_flat(text, |name, value| {
        // The ranges lie on ASCII delimiters, so on character boundaries: `whole` stays.
        match (flat.get_mut(count), text.get(name), text.get(value)) {
            (Some(slot), Some(name), Some(value)) => {
                *slot = (name, value);
                count += 1;
            }
            _ => whole = false,
        }
    });
    match read_so {
        Some(()) if whole => {
            for &(name, value) in flat.iter().take(count) {
                field(Cow::Borrowed(name), Cow::Borrowed(value));
            }
            Ok(())
        }
        _ => read_general(text, field),
    }
}

/// [`read`] by quick-xml, for any document.
fn read_general<'a>(
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
                    0 if name != "xml" => return Err(Error::NotXmlRoot(echo(name))),
                    0 => {}
                    depth => {
                        if depth == 1 {
                            if top_level.contains(name) {
                                return Err(Error::DuplicateField(echo(name)));
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
                        _ => return Err(Error::Entity(echo(&reference))),
                    }
                } else {
                    match resolve_xml_entity(&reference) {
                        Some(s) => s.to_owned(),
                        None => return Err(Error::Entity(echo(&reference))),
                    }
                };
                if !stack.push(Cow::Owned(resolved), false, false) {
                    return Err(Error::Entity(echo(&reference)));
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

    /// The fields `read_flat` reads from `doc`, or `None` when it leaves the document.
    fn flat(doc: &str) -> Option<Vec<(String, String)>> {
        let mut fields = Vec::new();
        read_flat(doc, |name, value| {
            fields.push((doc[name].to_owned(), doc[value].to_owned()))
        })?;
        Some(fields)
    }

    fn general(doc: &str) -> Result<Vec<(String, String)>> {
        let mut fields = Vec::new();
        read_general(doc, |name, value| {
            fields.push((name.into_owned(), value.into_owned()))
        })?;
        Ok(fields)
    }

    const WECHAT: &[&str] = &[
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1764547200</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 <b>&amp; ]] > ]]]></Content><MsgId>24000000000000000</MsgId></xml>",
        "<xml>\n<ToUserName><![CDATA[gh_x]]></ToUserName>\n\t<Encrypt><![CDATA[aGVsbG8=]]></Encrypt>\n</xml>\n",
        "<xml><MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Scale> 20 </Scale><Label><![CDATA[]]></Label><Empty></Empty><Blank>  </Blank></xml>",
    ];

    #[test]
    fn the_flat_reader_takes_what_wechat_sends_and_leaves_everything_else() {
        for doc in WECHAT {
            let read = flat(doc).unwrap_or_else(|| panic!("left to the general reader: {doc}"));
            assert_eq!(read, general(doc).unwrap(), "{doc}");
        }
        let left = [
            "<!DOCTYPE xml [<!ENTITY x \"y\">]><xml><A>&x;</A></xml>",
            "<?xml version=\"1.0\"?><xml><A>1</A></xml>",
            "<xml><A>a &amp; b</A></xml>",
            "<xml><A>&#13;</A></xml>",
            "<xml><A><![CDATA[a\r\nb]]></A></xml>",
            "<xml><A>1</A><A>2</A></xml>",
            "<xml><A><B>1</B></A></xml>",
            "<xml><A x=\"1\">1</A></xml>",
            "<xml><A/></xml>",
            "<xml><A >1</A></xml>",
            "<xml><A>1</A ></xml>",
            "<xml><A>1</B></xml>",
            "<xml><A>1</A><!-- c --></xml>",
            "<xml><A><![CDATA[x]]><![CDATA[y]]></A></xml>",
            "<xml><A><![CDATA[x]]> </A></xml>",
            "<xml><A>x > y</A></xml>",
            "<xml><a:b>1</a:b></xml>",
            "<xml><名>1</名></xml>",
            "<xml><A>1</A></xml><xml></xml>",
            "<xml><A>1</A></xml>tail",
            "<xml><A>1</A>",
            "<xml ><A>1</A></xml>",
            "<root><A>1</A></root>",
            "<xml><A><![CDATA[never closed</A></xml>",
        ];
        for doc in left {
            assert_eq!(flat(doc), None, "read flat: {doc}");
        }
        let many: String = (0..=FLAT_FIELDS)
            .map(|i| format!("<F{i}>{i}</F{i}>"))
            .collect();
        assert_eq!(flat(&format!("<xml>{many}</xml>")), None);
    }

    /// Documents made from WeChat's shapes by splicing in the fragments that matter, cutting
    /// and flipping bytes: whenever the flat reader reads one, the general reader reads the
    /// same fields from it.
    #[test]
    fn the_flat_reader_never_reads_what_the_general_reader_refuses_or_reads_otherwise() {
        const FRAGMENTS: &[&str] = &[
            "<",
            ">",
            "/",
            "]",
            "]]>",
            "]]",
            "<![CDATA[",
            "&amp;",
            "&#13;",
            "&x;",
            "\r",
            "\r\n",
            " ",
            "\t",
            "\n",
            "<xml>",
            "</xml>",
            "<A>",
            "</A>",
            "<A/>",
            "<!-- c -->",
            "<?pi?>",
            "<!DOCTYPE x>",
            " x=\"1\"",
            "中",
            "é",
            "_",
            "-",
            ".",
            ":",
            "\0",
            "<ToUserName>",
            "</ToUserName>",
            "<Content>",
            "</Content>",
            "<Scale>1</Scale>",
            "<MsgType>x</MsgType>",
        ];
        // SplitMix64: deterministic, no dependency.
        let mut state = 0x5EED_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as usize
        };
        let (mut read_flat_count, mut left_count) = (0, 0);
        for _ in 0..100_000 {
            let mut doc = WECHAT[next() % WECHAT.len()].as_bytes().to_vec();
            for _ in 0..1 + next() % 3 {
                let at = next() % (doc.len() + 1);
                match next() % 4 {
                    0 | 1 => {
                        let fragment = FRAGMENTS[next() % FRAGMENTS.len()].as_bytes();
                        doc.splice(at..at, fragment.iter().copied());
                    }
                    2 => {
                        let end = (at + 1 + next() % 8).min(doc.len());
                        doc.drain(at.min(end)..end);
                    }
                    _ => {
                        if let Some(byte) = doc.get_mut(at) {
                            *byte = b" <>/![]&;\"=axA1_"[next() % 16];
                        }
                    }
                }
            }
            let doc = String::from_utf8_lossy(&doc);
            match flat(&doc) {
                Some(fields) => {
                    read_flat_count += 1;
                    let general = general(&doc).unwrap_or_else(|error| {
                        panic!("read flat, refused by the general reader ({error}): {doc:?}")
                    });
                    assert_eq!(fields, general, "{doc:?}");
                }
                None => left_count += 1,
            }
        }
        // Both paths were taken, many times.
        assert!(
            read_flat_count > 5_000 && left_count > 5_000,
            "{read_flat_count} / {left_count}"
        );
    }

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
