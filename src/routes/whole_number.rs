//! Whole numbers in route bodies, written as JSON writes them: `4` and `4.0` are the same
//! number (JSON Schema's `integer` takes both), so both are taken; `4.5` is refused.

use serde::{Deserialize, Deserializer};

/// A whole number that fits `T` (`u16`, `u32`, `u64`).
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    };
    let whole =
        whole.ok_or_else(|| D::Error::custom(format!("expected a whole number, got {number}")))?;
    T::try_from(whole).map_err(|_| D::Error::custom(format!("{whole} is out of range")))
}

/// [`deserialize`] for an optional field: `null` is `None`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<u64>>(#[serde(deserialize_with = "deserialize")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Weight {
        #[serde(deserialize_with = "super::deserialize")]
        weight: u32,
    }

    fn weight(json: &str) -> Result<u32, String> {
        serde_json::from_str::<Weight>(json)
            .map(|w| w.weight)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integral_floats_are_whole_numbers() {
        assert_eq!(weight(r#"{"weight": 4}"#), Ok(4));
        assert_eq!(weight(r#"{"weight": 4.0}"#), Ok(4));
        assert!(weight(r#"{"weight": 4.5}"#)
            .unwrap_err()
            .contains("whole number"));
        assert!(weight(r#"{"weight": -1}"#).is_err());
        assert!(weight(r#"{"weight": 5000000000}"#)
            .unwrap_err()
            .contains("out of range"));
    }
}
