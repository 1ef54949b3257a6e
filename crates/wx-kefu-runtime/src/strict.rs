//! Requests given as JSON (the CLI's arguments, [`call_value`](crate::dynamic::call_value))
//! are refused when they hold a key no field takes: serde would drop it without a word,
//! and a message would go out without the part its author meant to send.
//!
//! [`from_value`] deserializes through [`Tracked`], a thin [`Deserializer`] over
//! [`serde_json::Value`] that sees each struct's accepted field names (serde hands them to
//! `deserialize_struct`) and notes every key outside them, with its path. A union's
//! payload, which [`Tagged`](crate::wire::Tagged) decodes from a `Value` of its own, is
//! tracked too while a check is running on this thread.

use std::cell::RefCell;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::{Map, Value};

/// A key no field takes, and the keys accepted where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Its path: `key`, `outer.key`, `list[2].key`.
    pub path: String,
    /// The names accepted at that place.
    pub accepted: Vec<&'static str>,
}

thread_local! {
    /// The unknown keys of the check running on this thread, if one is.
    static FOUND: RefCell<Option<Vec<UnknownKey>>> = const { RefCell::new(None) };
}

/// Why a value is not a `T`, strictly read.
#[derive(Debug)]
pub(crate) enum Strict {
    /// serde refused it.
    Malformed(serde_json::Error),
    /// It decodes, but holds a key no field takes (the first, in the map's order).
    Unknown(UnknownKey),
}

/// `value` as `T`, refused when it holds a key no field of `T` (or of what it holds) takes.
pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, Strict> {
    let (decoded, unknown) = check::<T>(value);
    let decoded = decoded.map_err(Strict::Malformed)?;
    match unknown.into_iter().next() {
        Some(first) => Err(Strict::Unknown(first)),
        None => Ok(decoded),
    }
}

/// `value` as `T`, with the keys no field of `T` (or of what it holds) takes.
fn check<T: DeserializeOwned>(value: Value) -> (Result<T, serde_json::Error>, Vec<UnknownKey>) {
    let outer = FOUND.with(|found| found.borrow_mut().replace(Vec::new()));
    let decoded = T::deserialize(Tracked {
        value,
        path: String::new(),
    });
    let unknown = FOUND.with(|found| std::mem::replace(&mut *found.borrow_mut(), outer));
    (decoded, unknown.unwrap_or_default())
}

/// `value` as `T`, tracked under `path` when a [`check`] runs on this thread (a union's
/// payload), plain otherwise.
pub(crate) fn from_value<T: DeserializeOwned>(
    value: Value,
    path: &str,
) -> Result<T, serde_json::Error> {
    match FOUND.with(|found| found.borrow().is_some()) {
        true => T::deserialize(Tracked {
            value,
            path: path.to_owned(),
        }),
        false => T::deserialize(value),
    }
}

fn note(path: String, accepted: &'static [&'static str]) {
    FOUND.with(|found| {
        if let Some(found) = found.borrow_mut().as_mut() {
            found.push(UnknownKey {
                path,
                accepted: accepted.to_vec(),
            });
        }
    });
}

fn join(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_owned(),
        false => format!("{path}.{key}"),
    }
}

/// A value being deserialized, with where it lies in the request.
struct Tracked {
    value: Value,
    path: String,
}

impl<'de> Deserializer<'de> for Tracked {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.into_iter().enumerate(),
                path: self.path,
            }),
            Value::Object(map) => visitor.visit_map(Entries::new(map, self.path, None)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Object(map) => visitor.visit_map(Entries::new(map, self.path, Some(fields))),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.value.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct Items {
    items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    path: String,
}

impl<'de> SeqAccess<'de> for Items {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Self::Error> {
        match self.items.next() {
            Some((index, value)) => seed
                .deserialize(Tracked {
                    value,
                    path: format!("{}[{index}]", self.path),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Entries {
    entries: serde_json::map::IntoIter,
    path: String,
    /// The struct's field names; `None` for a map (any key is fine).
    fields: Option<&'static [&'static str]>,
    /// The value of the key just handed out, and its path.
    pending: Option<(Value, String)>,
}

impl Entries {
    fn new(map: Map<String, Value>, path: String, fields: Option<&'static [&'static str]>) -> Self {
        Entries {
            entries: map.into_iter(),
            path,
            fields,
            pending: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let path = join(&self.path, &key);
        // A `null` carries nothing that could be lost.
        if let Some(fields) = self.fields
            && !fields.contains(&key.as_str())
            && !value.is_null()
        {
            note(path.clone(), fields);
        }
        self.pending = Some((value, path));
        let key: de::value::StringDeserializer<serde_json::Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        let (value, path) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(Tracked { value, path })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        value: String,
        color: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        name: String,
        data: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        free: std::collections::BTreeMap<String, Inner>,
    }

    #[test]
    fn keys_no_field_takes_are_found_with_their_path_and_the_accepted_names() {
        let (decoded, unknown) = check::<Outer>(json!({
            "name": "n",
            "thing1": {"value": "x"},
            "data": {"value": "v", "colour": "red"},
            "list": [{"value": "a"}, {"value": "b", "extra": 1}],
            "free": {"anything": {"value": "c", "nope": true}},
            "ignored": null
        }));
        assert_eq!(decoded.unwrap().name, "n");
        let paths: Vec<&str> = unknown.iter().map(|u| u.path.as_str()).collect();
        // In the order serde_json's map keeps keys (sorted).
        assert_eq!(
            paths,
            [
                "data.colour",
                "free.anything.nope",
                "list[1].extra",
                "thing1"
            ]
        );
        assert_eq!(unknown[0].accepted, ["value", "color"]);
        assert_eq!(unknown[3].accepted, ["name", "data", "list", "free"]);
        // Nothing is recorded outside a check.
        let plain: Outer = from_value(json!({"name": "n", "x": 1}), "").unwrap();
        assert_eq!(plain.name, "n");
        FOUND.with(|found| assert!(found.borrow().is_none()));
    }

    #[test]
    fn a_clean_request_has_no_unknown_key_and_errors_still_come() {
        let (decoded, unknown) = check::<Outer>(json!({"name": "n", "data": {"value": "v"}}));
        assert!(decoded.is_ok() && unknown.is_empty(), "{unknown:?}");
        let (decoded, _) = check::<Outer>(json!({"name": 3}));
        assert!(decoded.unwrap_err().to_string().contains("invalid type"));
    }
}
