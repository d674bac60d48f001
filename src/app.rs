//! Wires one certgate instance together: store, certificate manager, listeners, shutdown.
//!
//! [`run`] takes its listeners already bound and its shutdown trigger as a future, so tests and
//! `main` drive it the same way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::acme::AcmeIssuer;
use crate::cluster::events::{follow, RedisPublisher};
use crate::cluster::guard::Guard;
use crate::edge::conn::DRAIN_GRACE;
use crate::edge::http::HttpEdge;
use crate::edge::https::HttpsEdge;
use crate::edge::proxy::Proxy;
use crate::edge::sync::EdgeTables;
use crate::tls::certified::default_certificate;
use crate::tls::resolver::{server_config, SniResolver};

use crate::admin::health::Health;
use crate::admin::{self, AdminState};
use crate::certs::manager::{CertManager, Issuers};
use crate::certs::self_signed::SelfSignedIssuer;
use crate::config::Config;
use crate::events::Events;
use crate::store::Store;

/// The sockets an instance serves on.
pub struct Listeners {
    pub admin: TcpListener,
    pub http: TcpListener,
    pub https: TcpListener,
}

impl Listeners {
    /// Binds every listener of `config`, naming the one that fails.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let admin = TcpListener::bind(config.admin_addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on ADMIN_ADDR={}: {e}", config.admin_addr)
        })?;
        let http = TcpListener::bind(config.http_addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on HTTP_ADDR={}: {e}", config.http_addr))?;
        let https = TcpListener::bind(config.https_addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on HTTPS_ADDR={}: {e}", config.https_addr)
        })?;
        Ok(Listeners { admin, http, https })
    }
}

/// Runs the instance until `shutdown` completes, then drains and returns.
pub async fn run(
    config: Arc<Config>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let redis = config.redis_settings()?;
    let store = Store::connect_with(&redis, &config.redis_key_prefix)?;
    if !store.wait_connected(Duration::from_secs(5)).await {
        tracing::warn!(redis_url = %redact_url(&config.redis_url), "Redis is not reachable yet; retrying in the background");
    }
    if config.admin_token.is_none() {
        tokio::spawn(bootstrap_admin_token(store.clone()));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let events = Events::new();
    let events_for_edge = events.clone();
    let acme = AcmeIssuer::new(store.clone(), &config).map_err(|e| anyhow::anyhow!(e))?;
    let issuers = Issuers {
        self_signed: Arc::new(SelfSignedIssuer {
            validity_days: config.self_signed_days,
        }),
        acme: Some(Arc::new(acme)),
    };
    let manager = CertManager::start(
        store.clone(),
        config.clone(),
        issuers,
        events.clone(),
        stop_rx.clone(),
    );
    let health = Health::default();
    let state = AdminState::new(
        store.clone(),
        manager,
        config.clone(),
        events,
        health.clone(),
    );
    let tables = Arc::new(EdgeTables::new(store.clone(), config.cert_cache_size));
    events_for_edge.connect_local(tables.clone());
    health.watch_certificates(tables.certs.clone());
    let resolver = Arc::new(SniResolver {
        cache: tables.certs.clone(),
        routes: tables.routes.clone(),
        default: default_certificate(),
    });
    let tls = server_config(resolver.clone())?;
    let proxy = Proxy::new(tables.routes.clone(), config.clone());
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let http_edge = HttpEdge {
        store: store.clone(),
        health: health.clone(),
        config: config.clone(),
        proxy: proxy.clone(),
    };
    let https_edge = HttpsEdge {
        resolver,
        tls,
        proxy,
        config: config.clone(),
    };
    let http_task =
        tokio::spawn(http_edge.serve(listeners.http, connections.clone(), stop_rx.clone()));
    let https_task =
        tokio::spawn(https_edge.serve(listeners.https, connections.clone(), stop_rx.clone()));
    let instance_id = crate::certs::manager::random_hex(8);
    events_for_edge.connect_remote(Arc::new(RedisPublisher::new(store.clone(), &instance_id)));
    let guard = Guard::new(store.clone(), tables.clone());
    tokio::spawn(follow(
        redis.clone(),
        store.clone(),
        instance_id,
        guard.clone(),
        tables.clone(),
        stop_rx.clone(),
    ));
    tokio::spawn(start_tables(
        guard,
        health.clone(),
        config.resync_interval,
        stop_rx.clone(),
    ));

    let mut admin_stop = stop_rx.clone();
    let admin_server =
        axum::serve(listeners.admin, admin::router(state)).with_graceful_shutdown(async move {
            let _ = admin_stop.wait_for(|s| *s).await;
        });
    let admin_task = tokio::spawn(async move { admin_server.await });
    tracing::info!(admin = %config.admin_addr, http = %config.http_addr, https = %config.https_addr, "certgate is serving");

    shutdown.await;
    tracing::info!("shutting down: draining");
    health.set_draining();
    let _ = stop_tx.send(true);
    match tokio::time::timeout(DRAIN_GRACE, admin_task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "admin listener ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "admin listener task failed"),
        Err(_) => tracing::warn!("admin requests still running after the grace period; closing"),
    }
    let _ = http_task.await;
    let _ = https_task.await;
    // Every open connection holds a permit: all of them back means every request has finished.
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_GRACE, connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the grace period; closing them");
    }
    store.quit().await;
    Ok(())
}

/// Loads the edge's tables, retrying while Redis is unreachable; the instance reports ready
/// (`/health` 200) once they are loaded, then the guard resyncs them periodically.
async fn start_tables(
    guard: Arc<Guard>,
    health: Health,
    resync: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        match guard.start().await {
            Ok(()) => {
                health.set_ready();
                guard.run(resync, stop).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot load routes and certificates yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// With `ADMIN_TOKEN` unset: the first instance to reach Redis generates the admin token, stores
/// its hash, and prints the token once to stderr (not through the log).
async fn bootstrap_admin_token(store: Store) {
    loop {
        match store.admin_token_hash().await {
            Ok(Some(_)) => return,
            Ok(None) => {
                let token = crate::admin::auth::generate_token();
                let hash = crate::admin::auth::token_hash(&token);
                match store.init_admin_token_hash(&hash).await {
                    Ok(true) => {
                        eprintln!(
                            "certgate: generated admin token (shown once; store it now): {token}"
                        );
                        return;
                    }
                    Ok(false) => return,
                    Err(_) => {}
                }
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A Redis URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://[redacted]@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
