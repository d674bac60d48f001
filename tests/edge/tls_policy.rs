//! The TLS policy: post-quantum key exchange first, certificate compression, the oldest TLS
//! version (global and per route), and the metric of what was negotiated.

use rustls::crypto::aws_lc_rs::kx_group;

use super::*;
use common::client::{connect_tuned, Counted, Tuning};

const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// What rustls, Firefox and Safari offer: zlib among others.
const ZLIB_AND_BROTLI: &[rustls::CertificateCompressionAlgorithm] = &[
    rustls::CertificateCompressionAlgorithm::Zlib,
    rustls::CertificateCompressionAlgorithm::Brotli,
];
/// What Chromium offers.
const BROTLI_ONLY: &[rustls::CertificateCompressionAlgorithm] =
    &[rustls::CertificateCompressionAlgorithm::Brotli];

fn offering(
    groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
    versions: &'static [&'static rustls::SupportedProtocolVersion],
) -> Tuning {
    Tuning {
        groups,
        versions,
        decompress: ZLIB_AND_BROTLI,
        suites: Vec::new(),
    }
}

/// The cipher suite a connection negotiated, e.g. `TLS13_AES_128_GCM_SHA256`.
fn suite_of(tls: &tokio_rustls::client::TlsStream<Counted>) -> String {
    format!(
        "{:?}",
        tls.get_ref().1.negotiated_cipher_suite().unwrap().suite()
    )
}

fn negotiated(tls: &tokio_rustls::client::TlsStream<Counted>) -> String {
    let group = tls.get_ref().1.negotiated_key_exchange_group().unwrap();
    format!("{:?}", group.name())
}

/// Sends one HTTP/1.1 request for `host` on an open connection; the status code.
async fn status_on(tls: &mut tokio_rustls::client::TlsStream<Counted>, host: &str) -> u16 {
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n");
    status_over(tls, &request).await
}

#[tokio::test]
async fn post_quantum_key_exchange_is_preferred_and_classic_clients_still_connect() {
    let (_redis, cg) = instance(&[]).await;
    create_self_signed(&cg.admin(), "pq", &["pq.test"]).await;

    let hybrid = offering(vec![kx_group::X25519MLKEM768, kx_group::X25519], TLS13);
    let (tls, _) = connect_tuned(cg.https_port, "pq.test", &hybrid)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls), "X25519MLKEM768");
    // A client that sends its key share for X25519 only (listing the hybrid second) keeps
    // X25519: taking the share it sent saves a round trip (no HelloRetryRequest). Browsers send
    // the hybrid's share first.
    let classic_first = offering(vec![kx_group::X25519, kx_group::X25519MLKEM768], TLS13);
    let (tls, _) = connect_tuned(cg.https_port, "pq.test", &classic_first)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls), "X25519");
    let classic = offering(vec![kx_group::X25519], TLS13);
    let (tls, _) = connect_tuned(cg.https_port, "pq.test", &classic)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls), "X25519");
    let tls12 = offering(vec![kx_group::SECP256R1], TLS12);
    let (tls, _) = connect_tuned(cg.https_port, "pq.test", &tls12)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls), "secp256r1");

    // The server counts a handshake when it has the client's Finished, which can be just after
    // the client's side is done: the counts are waited for.
    let series = [
        r#"certgate_tls_handshakes_total{kind="full",version="TLSv1.3",group="X25519MLKEM768"} 1"#,
        r#"certgate_tls_handshakes_total{kind="full",version="TLSv1.3",group="X25519"} 2"#,
        r#"certgate_tls_handshakes_total{kind="full",version="TLSv1.2",group="secp256r1"} 1"#,
    ];
    let mut text = String::new();
    for _ in 0..50 {
        let metrics = cg.admin().get("/metrics").await.unwrap();
        text = String::from_utf8_lossy(&metrics.body).to_string();
        if series.iter().all(|s| text.contains(s)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in series {
        assert!(text.contains(s), "{s} in:\n{text}");
    }

    // The operator's list decides: without the hybrid, a hybrid-first client gets X25519.
    let (_redis2, classic_only) =
        instance(&[("TLS_KEY_EXCHANGE_GROUPS", "X25519,secp256r1")]).await;
    create_self_signed(&classic_only.admin(), "pq", &["pq.test"]).await;
    let (tls, _) = connect_tuned(classic_only.https_port, "pq.test", &hybrid)
        .await
        .unwrap();
    assert_eq!(negotiated(&tls), "X25519");
    let pq_only = offering(vec![kx_group::X25519MLKEM768], TLS13);
    assert!(
        connect_tuned(classic_only.https_port, "pq.test", &pq_only)
            .await
            .is_err(),
        "no group in common: the handshake fails"
    );
}

#[tokio::test]
async fn aes_128_gcm_is_chosen_unless_the_client_lists_chacha20_first() {
    use rustls::crypto::aws_lc_rs::cipher_suite::*;
    let (_redis, cg) = instance(&[]).await;
    create_self_signed(&cg.admin(), "suites", &["suites.test"]).await;
    let offering_suites = |suites: Vec<rustls::SupportedCipherSuite>, versions| Tuning {
        suites,
        ..offering(vec![kx_group::X25519, kx_group::SECP256R1], versions)
    };
    // (what the client offers, most preferred first; what it gets)
    let cases = [
        // rustls' and OpenSSL's own order: AES-256-GCM first.
        (
            vec![
                TLS13_AES_256_GCM_SHA384,
                TLS13_AES_128_GCM_SHA256,
                TLS13_CHACHA20_POLY1305_SHA256,
            ],
            TLS13,
            "TLS13_AES_128_GCM_SHA256",
        ),
        // A client without AES hardware lists ChaCha20 first: its order is followed.
        (
            vec![
                TLS13_CHACHA20_POLY1305_SHA256,
                TLS13_AES_256_GCM_SHA384,
                TLS13_AES_128_GCM_SHA256,
            ],
            TLS13,
            "TLS13_CHACHA20_POLY1305_SHA256",
        ),
        (
            vec![TLS13_AES_256_GCM_SHA384],
            TLS13,
            "TLS13_AES_256_GCM_SHA384",
        ),
        (
            vec![
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            TLS12,
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
        (
            vec![
                TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            TLS12,
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
    ];
    for (suites, versions, expected) in cases {
        let offered = format!("{:?}", suites.iter().map(|s| s.suite()).collect::<Vec<_>>());
        let (tls, _) = connect_tuned(
            cg.https_port,
            "suites.test",
            &offering_suites(suites, versions),
        )
        .await
        .unwrap();
        assert_eq!(suite_of(&tls), expected, "offering {offered}");
    }
}

#[tokio::test]
async fn certificate_chains_are_compressed_for_clients_that_offer_it() {
    let names: Vec<String> = (0..20).map(|i| format!("n{i}.zip.test")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let plain = Tuning {
        decompress: &[],
        ..offering(vec![kx_group::X25519], TLS13)
    };
    let compressing = offering(vec![kx_group::X25519], TLS13);
    let brotli_only = Tuning {
        decompress: BROTLI_ONLY,
        ..offering(vec![kx_group::X25519], TLS13)
    };

    let (_redis, cg) = instance(&[]).await;
    create_self_signed(&cg.admin(), "zip", &names).await;
    create_self_signed(&cg.admin(), "zip-other", &["other.zip.test"]).await;
    let (plain_tls, uncompressed) = connect_tuned(cg.https_port, names[0], &plain)
        .await
        .unwrap();
    let (compressed_tls, compressed) = connect_tuned(cg.https_port, names[0], &compressing)
        .await
        .unwrap();
    println!("handshake bytes from the server: {uncompressed} plain, {compressed} compressed");
    assert!(
        compressed + 200 < uncompressed,
        "compressed handshake {compressed} bytes, uncompressed {uncompressed}"
    );
    // Compressions are kept by content: the second handshake gets the kept one, another
    // certificate never gets it.
    let (again_tls, again) = connect_tuned(cg.https_port, names[0], &compressing)
        .await
        .unwrap();
    // (The handshake's size moves by a byte or two with its ECDSA signature's encoding.)
    assert!(
        again + 200 < uncompressed,
        "the second handshake gets the kept compression ({again} bytes)"
    );
    // A client that offers brotli alone (Chromium) gets brotli: a kept zlib compression of the
    // same chain is not served to it (rustls would fail its handshake if it were).
    let (brotli_tls, brotli) = connect_tuned(cg.https_port, names[0], &brotli_only)
        .await
        .unwrap();
    assert!(
        brotli + 200 < uncompressed,
        "a brotli-only client gets the chain compressed ({brotli} bytes)"
    );
    let (other_tls, _) = connect_tuned(cg.https_port, "other.zip.test", &compressing)
        .await
        .unwrap();
    let (other_plain_tls, _) = connect_tuned(cg.https_port, "other.zip.test", &plain)
        .await
        .unwrap();
    let leaf = |tls: &tokio_rustls::client::TlsStream<Counted>| {
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };
    assert_eq!(leaf(&compressed_tls), leaf(&plain_tls));
    assert_eq!(leaf(&again_tls), leaf(&plain_tls));
    assert_eq!(leaf(&brotli_tls), leaf(&plain_tls));
    assert_eq!(leaf(&other_tls), leaf(&other_plain_tls));
    assert_ne!(leaf(&other_tls), leaf(&plain_tls));

    let (_redis2, off) = instance(&[("TLS_CERT_COMPRESSION", "false")]).await;
    create_self_signed(&off.admin(), "zip", &names).await;
    let (_, offered_but_off) = connect_tuned(off.https_port, names[0], &compressing)
        .await
        .unwrap();
    assert!(
        offered_but_off + 200 > uncompressed,
        "TLS_CERT_COMPRESSION=false sends the chain as it is ({offered_but_off} bytes)"
    );
}

#[tokio::test]
async fn the_oldest_tls_version_is_held_globally_and_per_route() {
    let (_redis, cg) = instance(&[]).await;
    let up = upstream::start("versions").await;
    create_self_signed(&cg.admin(), "both", &["open.test", "secure.test"]).await;
    route(&cg, "open.test", &up.url(), None).await;
    let body = json!({ "hostname": "secure.test", "upstream": up.url(), "min_tls_version": "1.3" });
    let r = cg.admin().post("/proxies/", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["min_tls_version"], "1.3");
    let bad = json!({ "hostname": "old.test", "upstream": up.url(), "min_tls_version": "1.1" });
    let r = cg.admin().post("/proxies/", &bad).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.json());
    assert_eq!(r.json()["field"], "min_tls_version", "{}", r.json());

    let tls12 = offering(vec![kx_group::X25519], TLS12);
    let tls13 = offering(vec![kx_group::X25519], TLS13);
    assert!(
        connect_tuned(cg.https_port, "secure.test", &tls12)
            .await
            .is_err(),
        "a TLS 1.2 handshake for a 1.3-only route fails"
    );
    let (mut tls, _) = connect_tuned(cg.https_port, "secure.test", &tls13)
        .await
        .unwrap();
    assert_eq!(status_on(&mut tls, "secure.test").await, 200);
    // The same certificate covers both names: a TLS 1.2 connection made for open.test cannot
    // carry a request for secure.test.
    let (mut tls, _) = connect_tuned(cg.https_port, "open.test", &tls12)
        .await
        .unwrap();
    assert_eq!(status_on(&mut tls, "open.test").await, 200);
    assert_eq!(status_on(&mut tls, "secure.test").await, 421);

    let (_redis2, strict) = instance(&[("TLS_MIN_VERSION", "1.3")]).await;
    create_self_signed(&strict.admin(), "both", &["open.test"]).await;
    assert!(
        connect_tuned(strict.https_port, "open.test", &tls12)
            .await
            .is_err(),
        "TLS_MIN_VERSION=1.3 refuses TLS 1.2"
    );
    assert!(connect_tuned(strict.https_port, "open.test", &tls13)
        .await
        .is_ok());
}
