//! `encode` on a route: the compressions certgate may apply to its responses, most preferred
//! first (`docs/edge.md`, "Compression").

use serde::{Deserialize, Serialize};

use crate::certs::validate::FieldError;

/// A content coding certgate can apply to a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Zstandard (RFC 8878), level 3.
    Zstd,
    /// Brotli (RFC 7932), quality 4.
    Br,
    /// gzip (RFC 1952), level 5.
    Gzip,
}

impl Encoding {
    /// The token `Accept-Encoding` and `Content-Encoding` use.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

/// Checks a route's `encode` list: one to three codings, none twice.
pub fn check(list: &[Encoding]) -> Result<(), FieldError> {
    if list.is_empty() {
        return Err(FieldError::new(
            "encode",
            "name at least one of zstd, br, gzip (or leave encode out)",
        ));
    }
    for (i, coding) in list.iter().enumerate() {
        if list[..i].contains(coding) {
            return Err(FieldError::new(
                &format!("encode[{i}]"),
                format!("{} is listed twice", coding.token()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_each_coding_once() {
        assert!(check(&[Encoding::Zstd, Encoding::Gzip]).is_ok());
        assert!(check(&[]).is_err());
        let twice = check(&[Encoding::Gzip, Encoding::Br, Encoding::Gzip]).unwrap_err();
        assert_eq!(twice.field, "encode[2]");
    }

    #[test]
    fn codings_are_written_as_http_tokens() {
        let parsed: Vec<Encoding> = serde_json::from_str(r#"["zstd","br","gzip"]"#).unwrap();
        assert_eq!(parsed, [Encoding::Zstd, Encoding::Br, Encoding::Gzip]);
        assert!(serde_json::from_str::<Vec<Encoding>>(r#"["deflate"]"#).is_err());
    }
}
