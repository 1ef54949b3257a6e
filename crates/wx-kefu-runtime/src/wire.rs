//! Wire-format helpers for shapes serde's derives do not cover, used by generated types:
//! values that arrive as a string or a number, and unions tagged by a sibling field
//! whose payload sits under a key named after the tag (`{"msgtype":"text","text":{…}}`).

use std::fmt;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value WeChat sends as a string in some answers and as a number in others
/// (`kf_id`): kept as its decimal text, serialised back as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StringOrNumber(pub String);

impl StringOrNumber {
    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as an integer, when it is one.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }
}

impl fmt::Display for StringOrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StringOrNumber {
    fn from(value: &str) -> Self {
        StringOrNumber(value.to_owned())
    }
}

impl From<String> for StringOrNumber {
    fn from(value: String) -> Self {
        StringOrNumber(value)
    }
}

impl From<i64> for StringOrNumber {
    fn from(value: i64) -> Self {
        StringOrNumber(value.to_string())
    }
}

impl Serialize for StringOrNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Serialises one case of a tagged union as `{tag: name, name: payload}`.
///
/// It serialises as a map, so it also works under `#[serde(flatten)]`.
pub fn serialize_tagged<S, T>(
    serializer: S,
    tag: &str,
    name: &str,
    payload: &T,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize + ?Sized,
{
    let mut map = serializer.serialize_map(Some(2))?;
    map.serialize_entry(tag, name)?;
    map.serialize_entry(name, payload)?;
    map.end()
}

/// A tagged union read off the wire: the tag's value and the payload under the key of that name.
#[derive(Debug)]
pub struct Tagged {
    /// The tag's value, e.g. `text`.
    pub name: String,
    payload: Option<serde_json::Value>,
}

impl Tagged {
    /// Reads `{tag: name, name: payload, …}`; other keys are ignored (so it works under
    /// `#[serde(flatten)]` beside the envelope's own fields).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
        tag: &'static str,
    ) -> Result<Self, D::Error> {
        struct V(&'static str);
        impl<'de> Visitor<'de> for V {
            type Value = Tagged;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an object with a `{}` field", self.0)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut name: Option<String> = None;
                let mut others: Vec<(String, serde_json::Value)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == self.0 {
                        name = Some(map.next_value()?);
                    } else {
                        others.push((key, map.next_value()?));
                    }
                }
                let name = name.ok_or_else(|| de::Error::missing_field(self.0))?;
                let payload = others.into_iter().find(|(k, _)| *k == name).map(|(_, v)| v);
                Ok(Tagged { name, payload })
            }
        }
        deserializer.deserialize_map(V(tag))
    }

    /// Decodes the payload as `T`; a missing payload is an error naming the key.
    pub fn payload<T: DeserializeOwned, E: de::Error>(self) -> Result<T, E> {
        match self.payload {
            Some(value) => crate::strict::from_value(value, &self.name)
                .map_err(|e| E::custom(format!("`{}`: {e}", self.name))),
            None => Err(E::custom(format!("missing field `{}`", self.name))),
        }
    }

    /// An error for a tag value the union does not know.
    pub fn unknown<E: de::Error>(&self, expected: &'static [&'static str]) -> E {
        E::unknown_variant(&self.name, expected)
    }
}
