//! JSON objects only, where a request body has one. serde's derived structs also accept a JSON
//! array and take their fields by position, so `"request_headers": []` parsed as "no rules",
//! `"hsts": [31536000]` as an HSTS setting, and a body `["ops"]` as `{"name": "ops"}` — input
//! the API's schema refuses. These ask the JSON for an object, so an array is a `400` naming
//! the field ("invalid type: sequence, expected an object").

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A `T` that was written as a JSON object.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

/// For a field (or an untagged variant) that must be an object.
pub fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Object::deserialize(deserializer).map(|Object(value)| value)
}

/// For an optional field: an object, or `null` for `None`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Object<T>>::deserialize(deserializer).map(|found| found.map(|Object(value)| value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(deny_unknown_fields)]
    struct Rules {
        #[serde(default)]
        remove: Vec<String>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default, deserialize_with = "optional")]
        rules: Option<Rules>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str::<Object<Body>>(json)
            .map(|Object(body)| body)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn objects_and_null_are_taken() {
        let rules = parse(r#"{"rules": {"remove": ["x-a"]}}"#).unwrap().rules;
        assert_eq!(rules.unwrap().remove, ["x-a"]);
        assert!(parse(r#"{"rules": null}"#).unwrap().rules.is_none());
        assert!(parse("{}").unwrap().rules.is_none());
    }

    #[test]
    fn arrays_are_refused_where_an_object_belongs() {
        // Derived, these two parse: an empty array as every field defaulted.
        assert!(serde_json::from_str::<Rules>("[]").is_ok());
        let nested = parse(r#"{"rules": []}"#).unwrap_err();
        assert!(nested.contains("expected an object"), "{nested}");
        let top = parse(r#"[null]"#).unwrap_err();
        assert!(top.contains("expected an object"), "{top}");
        // What is inside is still checked as before.
        let unknown = parse(r#"{"rules": {"keep": []}}"#).unwrap_err();
        assert!(unknown.contains("unknown field `keep`"), "{unknown}");
    }
}
