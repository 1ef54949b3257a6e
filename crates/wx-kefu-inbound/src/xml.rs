//! The XML of pushes, read with quick-xml and nothing resolved: a `<!DOCTYPE>` is refused
//! outright, an entity other than the five predefined ones is refused, and depth and
//! element count are bounded. What comes out is the flat list of fields WeChat sends.
//!
//! Also the few lines of XML writing the replies need (CDATA that cannot be broken out of).

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    entries: Vec<(String, String)>,
}

impl Fields {
    /// Fields from name–value pairs (for tests and tools; [`parse`] reads them from XML).
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Fields {
        Fields {
            entries: pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// The value of the first field of this name (or path).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
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

/// One element being read: its path, its text pieces, whether it had CDATA or children.
struct Open {
    path: String,
    /// (text, whether it is whitespace outside CDATA)
    pieces: Vec<(String, bool)>,
    had_cdata: bool,
    had_children: bool,
}

impl Open {
    /// The value: every piece, except that whitespace around CDATA sections (pretty
    /// printing) is dropped, so a value in CDATA keeps exactly its text.
    fn value(self) -> String {
        let had_cdata = self.had_cdata;
        self.pieces
            .into_iter()
            .filter(|(_, whitespace)| !(had_cdata && *whitespace))
            .map(|(text, _)| text)
            .collect()
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
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut fields = Fields::default();
    let mut top_level: Vec<String> = Vec::new();
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
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::TooDeep(MAX_DEPTH));
                }
                let name = start.name().as_ref().to_owned();
                let path = match stack.last_mut() {
                    None => {
                        if name != "xml" {
                            return Err(Error::NotXmlRoot(name));
                        }
                        String::new()
                    }
                    Some(parent) => {
                        parent.had_children = true;
                        if parent.path.is_empty() {
                            if top_level.contains(&name) {
                                return Err(Error::DuplicateField(name));
                            }
                            top_level.push(name.clone());
                            name
                        } else {
                            format!("{}/{name}", parent.path)
                        }
                    }
                };
                stack.push(Open {
                    path,
                    pieces: Vec::new(),
                    had_cdata: false,
                    had_children: false,
                });
            }
            XmlEvent::End(_) => {
                let Some(open) = stack.pop() else {
                    return Err(Error::Xml("an end tag without a start".into()));
                };
                if stack.is_empty() {
                    root_done = true;
                } else if !open.had_children {
                    let path = open.path.clone();
                    fields.entries.push((path, open.value()));
                }
            }
            XmlEvent::Empty(_) => {
                // `expand_empty_elements` turns `<a/>` into Start + End.
                return Err(Error::Xml("unexpected empty element".into()));
            }
            XmlEvent::Text(text) => {
                let content = text.xml10_content();
                let whitespace = content.trim().is_empty();
                match stack.last_mut() {
                    Some(open) => open.pieces.push((content.into_owned(), whitespace)),
                    None if whitespace => {}
                    None => return Err(Error::Xml("text outside the root element".into())),
                }
            }
            XmlEvent::CData(cdata) => {
                let content = cdata.xml10_content();
                let Some(open) = stack.last_mut() else {
                    return Err(Error::Xml("CDATA outside the root element".into()));
                };
                open.had_cdata = true;
                open.pieces.push((content.into_owned(), false));
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
                let Some(open) = stack.last_mut() else {
                    return Err(Error::Entity(reference.to_string()));
                };
                open.pieces.push((resolved, false));
            }
            XmlEvent::Eof => break,
        }
    }
    if !stack.is_empty() || !root_done {
        return Err(Error::Xml("the document ends before </xml>".into()));
    }
    Ok(fields)
}

/// `text` as a CDATA section that cannot be closed early: every `]]>` inside is split
/// across two sections.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}
