//! Loads N self-signed certificates straight into Redis through the store module, for the scale
//! benchmark: one ECDSA key shared by all (generating 10,000 RSA keys would take minutes), one
//! certificate per name `host{i}.<domain>`. Writes the names, one per line, to `names_file`.
//!
//! `load_certs <redis_url> <prefix> <count> <domain> <names_file> [due]` — the first `due`
//! certificates are due for renewal at once. With `KEY_ENCRYPTION_KEYS` set (a key file), the
//! keys are stored sealed, as certgate would write them.

use certgate::certs::model::{CertStatus, CertificateRecord, IssuerKind, KeyType};
use certgate::secret::Secret;
use certgate::store::Store;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, prefix, count, domain, names_file, due) = match args.as_slice() {
        [u, p, c, d, n] => (u, p, c, d, n, 0),
        [u, p, c, d, n, due] => (u, p, c, d, n, due.parse()?),
        _ => anyhow::bail!(
            "usage: load_certs <redis_url> <prefix> <count> <domain> <names_file> [due]"
        ),
    };
    let count: usize = count.parse()?;
    let sealer = match std::env::var("KEY_ENCRYPTION_KEYS") {
        Ok(path) if !path.is_empty() => Some(std::sync::Arc::new(
            certgate::sealing::Sealer::load(std::path::Path::new(&path))
                .map_err(|e| anyhow::anyhow!("KEY_ENCRYPTION_KEYS: {e}"))?,
        )),
        _ => None,
    };
    let store = Store::connect(url, prefix)?.with_sealer(sealer).writer();
    store
        .wait_connected(std::time::Duration::from_secs(5))
        .await;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let key_pem = Secret::new(key.serialize_pem());
    let owner = "sha256:bench".to_owned();
    let mut names = Vec::with_capacity(count);
    let now = time::OffsetDateTime::now_utc();
    for i in 0..count {
        let host = format!("host{i}.{domain}");
        let mut params = CertificateParams::new(vec![host.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host.as_str());
        params.distinguished_name = dn;
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(90);
        let cert = params.self_signed(&key)?;
        let stamp = certgate::timefmt::now_string();
        let record = CertificateRecord {
            cert_name: format!("bench-{i}"),
            domains: vec![host.clone()],
            email: None,
            acme_directory_url: None,
            staging: false,
            profile: None,
            issuer: IssuerKind::SelfSigned,
            key_type: KeyType::EcdsaP256,
            status: CertStatus::Active,
            expires_at: Some(certgate::timefmt::format(params.not_after)),
            not_before: Some(certgate::timefmt::format(params.not_before)),
            fullchain_pem: Some(cert.pem()),
            owner_token_hash: owner.clone(),
            created_at: stamp.clone(),
            updated_at: stamp,
            last_error: None,
            // The first `due` are due for renewal now (the renewal-pass benchmark).
            next_renewal_at: Some(certgate::timefmt::format(if i < due {
                now - time::Duration::minutes(1)
            } else {
                params.not_after - time::Duration::days(30)
            })),
            renewal_failures: 0,
            challenge: Default::default(),
            dns_provider: None,
            revoked_at: None,
            revocation_reason: None,
            ari: Default::default(),
        };
        store.restore_certificate(&record, &key_pem).await?;
        names.push(host);
    }
    std::fs::write(names_file, names.join("\n"))?;
    eprintln!("loaded {count} certificates");
    Ok(())
}
