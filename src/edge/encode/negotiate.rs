//! `Accept-Encoding` (RFC 9110 §12.5.3): which of a route's codings a client takes, by its
//! q-values, ties going to the route's order.

use http::header::ACCEPT_ENCODING;
use http::HeaderMap;

use crate::routes::encode::Encoding;

/// The coding to answer `headers`' client with, among `offered` (most preferred first); `None`
/// when it accepts none of them (or sent no `Accept-Encoding`, which asks for no coding).
pub fn choose(headers: &HeaderMap, offered: &[Encoding]) -> Option<Encoding> {
    let mut best: Option<(Encoding, u16)> = None;
    for &coding in offered {
        let q = quality(headers, coding);
        // Strictly greater: at equal q the route's earlier coding stays.
        if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
            best = Some((coding, q));
        }
    }
    best.map(|(coding, _)| coding)
}

/// `coding`'s q-value in thousandths: its own entry's, else `*`'s, else 0.
fn quality(headers: &HeaderMap, coding: Encoding) -> u16 {
    let mut wildcard = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for entry in text.split(',') {
            let mut parts = entry.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q = parts
                .find_map(|p| {
                    let (key, value) = p.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| parse_q(value.trim()))
                })
                .unwrap_or(Some(1000));
            // A malformed q-value makes the entry meaningless, not a refusal of the coding.
            let Some(q) = q else { continue };
            let names_it = name.eq_ignore_ascii_case(coding.token())
                || (coding == Encoding::Gzip && name.eq_ignore_ascii_case("x-gzip"));
            if names_it {
                return q;
            }
            if name == "*" {
                wildcard = Some(q);
            }
        }
    }
    wildcard.unwrap_or(0)
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const ALL: [Encoding; 3] = [Encoding::Zstd, Encoding::Br, Encoding::Gzip];

    fn accepting(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_route_order_breaks_ties_and_q_values_decide_otherwise() {
        assert_eq!(
            choose(&accepting("gzip, br, zstd"), &ALL),
            Some(Encoding::Zstd)
        );
        assert_eq!(
            choose(&accepting("gzip, deflate, br"), &ALL),
            Some(Encoding::Br)
        );
        assert_eq!(
            choose(&accepting("zstd;q=0.5, gzip"), &ALL),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            choose(&accepting("gzip;q=0.9, br;q=0.95"), &ALL),
            Some(Encoding::Br)
        );
        assert_eq!(
            choose(&accepting("br"), &[Encoding::Gzip, Encoding::Br]),
            Some(Encoding::Br)
        );
    }

    #[test]
    fn refusals_wildcards_and_nothing_at_all() {
        assert_eq!(choose(&HeaderMap::new(), &ALL), None);
        assert_eq!(choose(&accepting("identity"), &ALL), None);
        assert_eq!(choose(&accepting("gzip;q=0"), &ALL), None);
        assert_eq!(choose(&accepting("*"), &ALL), Some(Encoding::Zstd));
        assert_eq!(choose(&accepting("*, zstd;q=0"), &ALL), Some(Encoding::Br));
        assert_eq!(choose(&accepting("x-gzip"), &ALL), Some(Encoding::Gzip));
        assert_eq!(choose(&accepting("GZIP;Q=1.0"), &ALL), Some(Encoding::Gzip));
        assert_eq!(choose(&accepting("br;q=2"), &ALL), None);
        assert_eq!(
            choose(&accepting("br;q=0.0001, gzip"), &ALL),
            Some(Encoding::Gzip)
        );
    }
}
