//! `ip_rules` on a route: which client addresses may reach it. A request from an address in
//! `deny` is refused; with a non-empty `allow`, so is one from an address outside it. Both
//! families; a single address is a /32 or /128.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::certs::validate::FieldError;

/// Most entries in `allow` or `deny`.
pub const MAX_ENTRIES: usize = 256;

/// A route's client address rules, as stored and shown (networks normalised).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRules {
    /// When not empty, only these networks may reach the route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<IpNet>,
    /// These networks may not, whatever `allow` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<IpNet>,
}

/// `ip_rules` as a request body gives them: CIDRs or single addresses as text.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRulesBody {
    /// Networks allowed (empty: every address not denied).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Networks denied.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl IpRules {
    /// Whether a request from `client` may reach the route.
    pub fn admits(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if self.deny.iter().any(|net| net.contains(&client)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&client))
    }

    /// Checks and normalises a body's rules; an error naming the entry at fault.
    pub fn from_body(body: &IpRulesBody) -> Result<IpRules, FieldError> {
        let parse = |list: &[String], field: &str| -> Result<Vec<IpNet>, FieldError> {
            if list.len() > MAX_ENTRIES {
                return Err(FieldError::new(
                    &format!("ip_rules.{field}"),
                    format!("at most {MAX_ENTRIES} entries"),
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, item)| {
                    let item = item.trim();
                    item.parse::<IpNet>()
                        .map(|net| net.trunc())
                        .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            FieldError::new(
                                &format!("ip_rules.{field}[{i}]"),
                                format!("{item:?} is neither a CIDR nor an IP address"),
                            )
                        })
                })
                .collect()
        };
        Ok(IpRules {
            allow: parse(&body.allow, "allow")?,
            deny: parse(&body.deny, "deny")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> IpRules {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        IpRules::from_body(&IpRulesBody {
            allow: owned(allow),
            deny: owned(deny),
        })
        .unwrap()
    }

    #[test]
    fn deny_wins_and_an_allow_list_closes_the_rest() {
        let r = rules(&["10.0.0.0/8", "2001:db8::/32"], &["10.0.0.66"]);
        for (addr, admitted) in [
            ("10.1.2.3", true),
            ("10.0.0.66", false),
            ("192.0.2.1", false),
            ("2001:db8::5", true),
            ("2001:db9::1", false),
            ("::ffff:10.9.9.9", true),
        ] {
            assert_eq!(r.admits(addr.parse().unwrap()), admitted, "{addr}");
        }
        assert!(rules(&[], &["192.0.2.0/24"]).admits("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn entries_are_normalised_and_bad_ones_named() {
        assert_eq!(
            rules(&["10.1.2.3/8"], &[]).allow[0].to_string(),
            "10.0.0.0/8"
        );
        let bad = IpRulesBody {
            deny: vec!["10.0.0.0/8".into(), "ten".into()],
            ..Default::default()
        };
        assert_eq!(
            IpRules::from_body(&bad).unwrap_err().field,
            "ip_rules.deny[1]"
        );
    }
}
