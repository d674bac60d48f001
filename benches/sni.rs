//! SNI resolution with 10,000 certificates in the cache: the cost every handshake pays.
//! `cargo bench --bench sni`

use std::hint::black_box;
use std::sync::Arc;

use certgate::certs::model::{CertStatus, CertificateRecord, IssuerKind, KeyType};
use certgate::routes::table::RouteTable;
use certgate::store::Store;
use certgate::tls::cache::CertCache;
use certgate::tls::certified::ServedCert;
use certgate::tls::default_cert::DefaultCert;
use certgate::tls::resolver::SniResolver;
use criterion::{criterion_group, criterion_main, Criterion};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};

const NAMES: usize = 10_000;

fn resolver() -> SniResolver {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Never contacted: select() reads memory only.
    let store =
        runtime.block_on(async { Store::connect("redis://127.0.0.1:9", "bench:").unwrap() });
    let cache = Arc::new(CertCache::new(store, NAMES * 2));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let key_pem = key.serialize_pem();
    let mut certs = Vec::with_capacity(NAMES);
    for i in 0..NAMES {
        let host = format!("host{i}.bench.test");
        let cert = CertificateParams::new(vec![host.clone()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let record = CertificateRecord {
            cert_name: format!("c{i}"),
            domains: vec![host],
            email: None,
            acme_directory_url: None,
            staging: false,
            profile: None,
            issuer: IssuerKind::SelfSigned,
            key_type: KeyType::EcdsaP256,
            status: CertStatus::Active,
            expires_at: None,
            not_before: None,
            fullchain_pem: Some(cert.pem()),
            owner_token_hash: "sha256:x".into(),
            created_at: String::new(),
            updated_at: String::new(),
            last_error: None,
            next_renewal_at: None,
            renewal_failures: 0,
            challenge: Default::default(),
            dns_provider: None,
            revoked_at: None,
            revocation_reason: None,
            ari: Default::default(),
        };
        certs.push(ServedCert::from_record(&record, Some(&key_pem)).unwrap());
    }
    cache.replace_all(certs);
    std::mem::forget(runtime);
    SniResolver {
        cache,
        routes: Arc::new(RouteTable::default()),
        default: Arc::new(DefaultCert::new(365, 30)),
        admin: Arc::new(certgate::tokens::AdminOwner::default()),
    }
}

fn sni(c: &mut Criterion) {
    let resolver = resolver();
    let names: Vec<String> = (0..NAMES)
        .map(|i| format!("host{}.bench.test", (i * 7919) % NAMES))
        .collect();
    let mut i = 0;
    c.bench_function("sni_pick_10k_spread", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(resolver.pick(Some(black_box(&names[i]))))
        })
    });
    c.bench_function("sni_pick_10k_one_name", |b| {
        b.iter(|| black_box(resolver.pick(Some(black_box("host42.bench.test")))))
    });
    c.bench_function("sni_pick_unknown", |b| {
        b.iter(|| black_box(resolver.pick(Some(black_box("nobody.example")))))
    });
}

criterion_group!(benches, sni);
criterion_main!(benches);
