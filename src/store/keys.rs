//! The Redis key schema (documented in `docs/storage.md`).
//!
//! Braces mark the Redis Cluster hash tag: every key of one certificate carries `{<cert_name>}`,
//! so the record, its private key, its generation status and its lease sit in one slot and one
//! Lua script may touch them all atomically. The token tables share `{tokens}`.

/// Builds keys under one prefix (`REDIS_KEY_PREFIX`, default `certgate:`).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`REDIS_KEY_PREFIX`).
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash: `record` (JSON [`CertificateRecord`](crate::certs::model::CertificateRecord)) and
    /// `private_key` (PEM), written together.
    pub fn cert(&self, name: &str) -> String {
        format!("{}cert:{{{name}}}", self.prefix)
    }

    /// Hash: the current generation's status; expires `CERT_STATUS_RETENTION_SECONDS` after it ends.
    pub fn cert_status(&self, name: &str) -> String {
        format!("{}cert:{{{name}}}:status", self.prefix)
    }

    /// String: the lease of the instance generating this certificate (SET NX PX).
    pub fn cert_lease(&self, name: &str) -> String {
        format!("{}cert:{{{name}}}:lease", self.prefix)
    }

    /// Set: every certificate name (an index; the record is the truth).
    pub fn cert_index(&self) -> String {
        format!("{}certs", self.prefix)
    }

    /// Sorted set: certificate names scored by their next event (ms since the epoch): renewal,
    /// expiry, ARI request. The renewal loop reads only what is due.
    pub fn renewal_index(&self) -> String {
        format!("{}renewals", self.prefix)
    }

    /// Sorted set (all scores 0): certificate names in lexical order, for paginated lists.
    pub fn cert_names(&self) -> String {
        format!("{}certs:by_name", self.prefix)
    }

    /// Sorted set (all scores 0): names of the certificates in `status`, in lexical order, for
    /// `GET /certificates/?status=`.
    pub fn certs_with_status(&self, status: &str) -> String {
        format!("{}certs:status:{status}", self.prefix)
    }

    /// Sorted set (all scores 0): names of the certificates an owner (token hash) holds, in
    /// lexical order, for `GET /certificates/?owner=`.
    pub fn certs_owned_by(&self, owner_hash: &str) -> String {
        format!("{}certs:owner:{owner_hash}", self.prefix)
    }

    /// Hash: the CRL last fetched from a route's `crl_urls` entry (`der` base64, `fetched_at`),
    /// by a digest of the URL.
    pub fn crl(&self, url_digest: &str) -> String {
        format!("{}crl:{url_digest}", self.prefix)
    }

    /// String with expiry: the instance fetching that CRL now.
    pub fn crl_fetch_lock(&self, url_digest: &str) -> String {
        format!("{}crl_lock:{url_digest}", self.prefix)
    }

    /// Set: certificate names with a generation waiting or running (the durable work queue).
    pub fn jobs(&self) -> String {
        format!("{}jobs", self.prefix)
    }

    /// Hash: `owner` (token hash) plus one field per certificate or route naming the host.
    pub fn claim(&self, hostname: &str) -> String {
        format!("{}claim:{{{hostname}}}", self.prefix)
    }

    /// Hash: for wildcard `*.parent`, every exact name one label under `parent` → its owner
    /// (token hash). Shares the wildcard claim's hash tag, so one script reads both.
    pub fn claim_children(&self, wildcard: &str) -> String {
        format!("{}claim-children:{{{wildcard}}}", self.prefix)
    }

    /// String: a route's JSON.
    pub fn route(&self, hostname: &str) -> String {
        format!("{}route:{{{hostname}}}", self.prefix)
    }

    /// Sorted set (all scores 0): routed hostnames in lexical order, for paginated lists.
    pub fn route_names(&self) -> String {
        format!("{}routes:by_name", self.prefix)
    }

    /// Set: every routed hostname.
    pub fn route_index(&self) -> String {
        format!("{}routes", self.prefix)
    }

    /// Hash: token name → JSON metadata (with its SHA-256 hash).
    pub fn tokens_by_name(&self) -> String {
        format!("{}{{tokens}}:by_name", self.prefix)
    }

    /// Hash: token hash (hex) → token name.
    pub fn tokens_by_hash(&self) -> String {
        format!("{}{{tokens}}:by_hash", self.prefix)
    }

    /// String: hash of the generated admin token, when `ADMIN_TOKEN` is unset.
    pub fn admin_token_hash(&self) -> String {
        format!("{}{{tokens}}:admin", self.prefix)
    }

    /// String with TTL: an HTTP-01 key authorization under its token.
    pub fn challenge(&self, token: &str) -> String {
        format!("{}challenge:{{{token}}}", self.prefix)
    }

    /// String with TTL: a TLS-ALPN-01 challenge certificate and its key (PEM) for a DNS name or
    /// IP address.
    pub fn tls_alpn_challenge(&self, identifier: &str) -> String {
        format!("{}tls_alpn:{{{identifier}}}", self.prefix)
    }

    /// Hash: dns-01 TXT records present in a zone (`<name> <value>` → Unix time added), so a
    /// record a crash left behind is swept.
    pub fn dns_records(&self) -> String {
        format!("{}dns01:records", self.prefix)
    }

    /// Hash: dns-persist-01 records certgate published through a DNS provider (`<name> <value>`
    /// → Unix time), so a renewal does not write them again.
    pub fn dns_persist_published(&self) -> String {
        format!("{}dns_persist:published", self.prefix)
    }

    /// String: the QUIC stateless-reset key every instance uses (hex, 32 bytes).
    pub fn quic_reset_key(&self) -> String {
        format!("{}quic:reset_key", self.prefix)
    }

    /// Set: on-demand allow patterns (`example.com`, `*.example.com`).
    pub fn on_demand_allow(&self) -> String {
        format!("{}ondemand:allow", self.prefix)
    }

    /// String with TTL: the ask URL's answer for a name (`allow` / `deny`).
    pub fn on_demand_ask(&self, name: &str) -> String {
        format!("{}ondemand:ask:{{{name}}}", self.prefix)
    }

    /// Sorted set: the times of the last minute's on-demand orders (the cluster-wide rate).
    pub fn on_demand_rate(&self) -> String {
        format!("{}ondemand:rate", self.prefix)
    }

    /// String with TTL: held by the one handshake in the cluster that orders a name on demand.
    pub fn on_demand_order(&self, name: &str) -> String {
        format!("{}ondemand:order:{{{name}}}", self.prefix)
    }

    /// Hash with TTL: `failures` and `until` (ms) of a name backing off after a failure.
    pub fn on_demand_backoff(&self, name: &str) -> String {
        format!("{}ondemand:backoff:{{{name}}}", self.prefix)
    }

    /// String with TTL: a rate-limit bucket's theoretical arrival time (ms), per route and
    /// client key, each bucket in its own cluster slot. A key longer than 64 bytes or with
    /// braces (a header's value) is hashed, so a client cannot make keys huge or move the tag.
    pub fn rate_limit(&self, route: &str, key: &str) -> String {
        if key.len() > 64 || key.contains(['{', '}']) {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
            let hashed = hex::encode(digest.as_ref());
            format!("{}ratelimit:{{{route}|#{hashed}}}", self.prefix)
        } else {
            format!("{}ratelimit:{{{route}|{key}}}", self.prefix)
        }
    }

    /// String with TTL: an instance's heartbeat (JSON `InstanceInfo`).
    pub fn instance(&self, id: &str) -> String {
        format!("{}instance:{{{id}}}", self.prefix)
    }

    /// Stream: every announced change (`kind`, `name`), capped at `change_log::KEEP`; read by
    /// the periodic resync from where each instance stopped.
    pub fn change_log(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// List: the newest lifecycle events of the cluster (JSON `RecentEvent`), newest first,
    /// trimmed to `recent_events::KEEP`.
    pub fn recent_events(&self) -> String {
        format!("{}events:recent", self.prefix)
    }

    /// Set: ids of instances that wrote a heartbeat (expired ones are dropped when listed).
    pub fn instances(&self) -> String {
        format!("{}instances", self.prefix)
    }

    /// String: an ACME account's credentials (JSON), per directory URL and e-mail.
    pub fn acme_account(&self, id: &str) -> String {
        format!("{}acme:account:{{{id}}}", self.prefix)
    }

    /// String: what an operator may see of an ACME account (JSON `AcmeAccountInfo`: directory,
    /// e-mail, account URL, first seen), never its key.
    pub fn acme_account_info(&self, id: &str) -> String {
        format!("{}acme:account:{{{id}}}:info", self.prefix)
    }

    /// Set: the ids of every ACME account with an info record.
    pub fn acme_accounts(&self) -> String {
        format!("{}acme:accounts", self.prefix)
    }

    /// String: the lock held while an ACME account is registered.
    pub fn acme_account_lock(&self, id: &str) -> String {
        format!("{}acme:account:{{{id}}}:lock", self.prefix)
    }
}
