//! Wires one certgate instance together: store, certificate manager, listeners, shutdown.
//!
//! [`run`] takes its listeners already bound and its shutdown trigger as a future, so tests and
//! `main` drive it the same way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::acme::AcmeIssuer;
use crate::admin::{self, AdminState};
use crate::certs::self_signed::SelfSignedIssuer;
use crate::cluster::events::{follow, RedisPublisher};
use crate::cluster::guard::Guard;
use crate::config::Config;
use crate::edge::activity::Limits;
use crate::edge::http::HttpEdge;
use crate::edge::https::HttpsEdge;
use crate::edge::proxy::Proxy;
use crate::edge::signing_turns::SigningTurns;
use crate::edge::sync::EdgeTables;
use crate::edge::upstreams::Upstreams;
use crate::events::Events;
use crate::fd_limit::{self, ConnectionCaps};
use crate::health::Health;
use crate::ids::InstanceId;
use crate::lifecycle::{bootstrap_admin_token, Issuers, Lifecycle};
use crate::on_demand::OnDemand;
use crate::shutdown::{self, Shutdown};
use crate::store::{RedisSettings, Store};
use crate::tasks::Tasks;
use crate::tls::default_cert::DefaultCert;
use crate::tls::resolver::{server_config, SniResolver};
use crate::tokens::AdminOwner;

/// The sockets an instance serves on.
pub struct Listeners {
    pub admin: TcpListener,
    pub http: TcpListener,
    pub https: TcpListener,
}

impl Listeners {
    /// Binds every listener of `config` with its `LISTEN_BACKLOG`, naming the one that fails.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let backlog = config.listen_backlog;
        let effective = crate::edge::listen::effective_backlog(backlog);
        tracing::info!(
            listen_backlog = backlog,
            effective,
            "listen queue (LISTEN_BACKLOG, capped by net.core.somaxconn)"
        );
        let bind = |name: &str, addr: std::net::SocketAddr| {
            crate::edge::listen::bind(addr, backlog)
                .map_err(|e| anyhow::anyhow!("cannot listen on {name}={addr}: {e}"))
        };
        Ok(Listeners {
            admin: bind("ADMIN_ADDR", config.admin_addr)?,
            http: bind("HTTP_ADDR", config.http_addr)?,
            https: bind("HTTPS_ADDR", config.https_addr)?,
        })
    }
}

/// Runs the instance until `shutdown` completes, then drains and returns.
pub async fn run(
    config: Arc<Config>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let redis = RedisSettings::from_config(&config)?;
    let store = Store::connect_with(&redis, &config.redis_key_prefix)?;
    if !store.wait_connected(Duration::from_secs(5)).await {
        tracing::warn!(redis_url = %config.redis_url.redacted(), "Redis is not reachable yet; retrying in the background");
    }
    let instance = InstanceId::generate();
    let (trigger, stop) = shutdown::channel();
    let mut tasks = Tasks::new();
    let admin_owner = Arc::new(AdminOwner::new(
        config.admin_token.as_ref().map(|t| t.expose()),
    ));
    if config.admin_token.is_none() {
        let (store, stop, owner) = (store.writer(), stop.clone(), admin_owner.clone());
        tasks.spawn("admin token bootstrap", async move {
            tokio::select! {
                _ = bootstrap_admin_token(store, owner) => {}
                _ = stop.wait() => {}
            }
        });
    }
    // The tables and the publisher exist before anything that announces changes starts: an
    // announcement made to no sink would reach the other instances only at the next resync.
    let tables = Arc::new(EdgeTables::new(
        store.clone(),
        config.cert_cache_size,
        config.metrics_per_certificate_limit,
    ));
    let events = Events::new(
        tables.clone(),
        Some(Arc::new(RedisPublisher::new(store.writer(), &instance))),
    );
    let acme = Arc::new(AcmeIssuer::new(store.writer(), &config)?);
    let profiles = Arc::new(acme.profile_catalog());
    let issuers = Issuers {
        self_signed: Arc::new(SelfSignedIssuer {
            validity_days: config.self_signed_days,
        }),
        acme: Some(acme.clone()),
    };
    let lifecycle = Lifecycle::start(
        store.writer(),
        config.clone(),
        issuers,
        events.clone(),
        instance.clone(),
        &mut tasks,
        &stop,
    );
    let on_demand = OnDemand::new(config.clone(), store.writer(), lifecycle.clone());
    let health = Health::default();
    let upstreams = Arc::new(Upstreams::new(config.clone()));
    let state = AdminState::new(
        lifecycle.clone(),
        config.clone(),
        health.clone(),
        profiles,
        upstreams.clone(),
        admin_owner.clone(),
        tables.series.clone(),
    );
    health.watch_certificates(tables.certs.clone());
    let default_cert = Arc::new(DefaultCert::new(
        config.self_signed_days,
        config.renewal_threshold_days,
    ));
    tasks.spawn(
        "default certificate renewal",
        default_cert.clone().run(stop.clone()),
    );
    let resolver = Arc::new(SniResolver {
        cache: tables.certs.clone(),
        routes: tables.routes.clone(),
        default: default_cert.clone(),
        admin: admin_owner,
    });
    let tls = server_config(resolver.clone())?;
    tasks.spawn(
        "upstream health checks",
        crate::edge::upstreams::active::run(upstreams.clone(), tables.routes.clone(), stop.clone()),
    );
    let proxy = Proxy::new(tables.routes.clone(), upstreams.clone(), config.clone());
    let open_files = fd_limit::current();
    let caps = ConnectionCaps::size(
        config.max_connections,
        config.admin_max_connections,
        open_files,
    );
    tracing::info!(
        open_files = open_files.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        edge_connections = caps.edge,
        max_connections = config.max_connections,
        admin_connections = caps.admin,
        admin_max_connections = config.admin_max_connections,
        reserve = fd_limit::RESERVE,
        "connection caps sized from the open-file limit"
    );
    let connections = Arc::new(Semaphore::new(caps.edge));
    let admin_connections = Arc::new(Semaphore::new(caps.admin));
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
        store: store.clone(),
        on_demand,
        signing: Arc::new(SigningTurns::new(config.worker_threads)),
    };
    tasks.spawn(
        "HTTP listener",
        http_edge.serve(listeners.http, connections.clone(), stop.clone()),
    );
    tasks.spawn(
        "HTTPS listener",
        https_edge.serve(listeners.https, connections.clone(), stop.clone()),
    );
    {
        let (store, config, instance, stop) = (
            store.writer(),
            config.clone(),
            instance.clone(),
            stop.clone(),
        );
        tasks.spawn("heartbeat", async move {
            crate::cluster::heartbeat::beat(store, &config, instance, stop).await
        });
    }
    let guard = Guard::new(store.writer(), tables.clone(), lifecycle, Some(acme));
    tasks.spawn_fallible(
        "change events subscriber",
        follow(
            redis.clone(),
            store.clone(),
            instance,
            guard.clone(),
            tables.clone(),
            stop.clone(),
        ),
    );
    tasks.spawn(
        "table loader and resync",
        start_tables(guard, health.clone(), config.resync_interval, stop.clone()),
    );

    tasks.spawn(
        "admin listener",
        admin::listener::serve(
            listeners.admin,
            admin::router(state),
            Limits::of(&config),
            config.max_header_bytes,
            config.drain_grace,
            admin_connections.clone(),
            stop.clone(),
        ),
    );
    tracing::info!(admin = %config.admin_addr, http = %config.http_addr, https = %config.https_addr, "certgate is serving");

    shutdown.await;
    tracing::info!("shutting down: draining");
    health.set_draining();
    trigger.fire();
    tasks.join_all(config.drain_grace).await;
    // Every open connection holds a permit: all of them back means every request has finished.
    let drained = async {
        let _ = connections.acquire_many(permits(caps.edge)).await;
        let _ = admin_connections.acquire_many(permits(caps.admin)).await;
    };
    if tokio::time::timeout(config.drain_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the grace period; closing them");
    }
    store.quit().await;
    Ok(())
}

fn permits(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Loads the edge's tables, retrying while Redis is unreachable; the instance reports ready
/// (`/health` 200) once they are loaded, then the guard resyncs them periodically.
async fn start_tables(guard: Arc<Guard>, health: Health, resync: Duration, shutdown: Shutdown) {
    let mut delay = Duration::from_millis(200);
    loop {
        match guard.start().await {
            Ok(()) => {
                health.set_ready();
                guard.run(resync, shutdown).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot load routes and certificates yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
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
