//! Wires one certgate instance together: store, certificate manager, listeners, shutdown.
//!
//! [`run`] takes its listeners already bound and its shutdown trigger as a future, so tests and
//! `main` drive it the same way.

mod http3;

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
use crate::edge::https::HttpsEdge;
use crate::edge::plain::HttpEdge;
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
use crate::tls::policy::server_configs;
use crate::tls::resolver::SniResolver;
use crate::tokens::AdminOwner;

/// The sockets an instance serves on.
pub struct Listeners {
    /// The admin API's listener.
    pub admin: TcpListener,
    /// The plain-HTTP listener.
    pub http: TcpListener,
    /// The HTTPS listener.
    pub https: TcpListener,
}

impl Listeners {
    /// Binds every listener of `config` with its `LISTEN_BACKLOG`, naming the one that fails.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let backlog = config.listeners.backlog;
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
            admin: bind("ADMIN_ADDR", config.listeners.admin_addr)?,
            http: bind("HTTP_ADDR", config.listeners.http_addr)?,
            https: bind("HTTPS_ADDR", config.listeners.https_addr)?,
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
    let store = Store::connect_with(&redis, &config.redis.key_prefix)?
        .with_sealer(config.redis.sealer.clone());
    if !store.wait_connected(Duration::from_secs(5)).await {
        tracing::warn!(redis_url = %config.redis.url.redacted(), "Redis is not reachable yet; retrying in the background");
    }
    let (trigger, stop) = shutdown::channel();
    let mut wiring = Wiring {
        config: config.clone(),
        store,
        instance: InstanceId::generate(),
        stop,
        tasks: Tasks::new(),
        health: Health::default(),
    };
    let admin_owner = wiring.admin_owner();
    let core = wiring.certificate_manager()?;
    let upstreams = Arc::new(Upstreams::new(config.clone()));
    let state = AdminState::new(
        core.lifecycle.clone(),
        config.clone(),
        wiring.health.clone(),
        core.profiles.clone(),
        upstreams.clone(),
        admin_owner.clone(),
        core.tables.series.clone(),
    );
    let caps = wiring.edge(
        &core,
        upstreams,
        admin_owner,
        listeners.http,
        listeners.https,
    )?;
    wiring.cluster(&core, redis);
    wiring.tasks.spawn(
        "admin listener",
        admin::listener::serve(
            listeners.admin,
            admin::router(state),
            Limits::of(&config),
            config.limits.max_header_bytes,
            config.limits.drain_grace,
            caps.admin.clone(),
            wiring.stop.clone(),
        ),
    );
    tracing::info!(admin = %config.listeners.admin_addr, http = %config.listeners.http_addr, https = %config.listeners.https_addr, "certgate is serving");

    shutdown.await;
    tracing::info!("shutting down: draining");
    wiring.health.set_draining();
    trigger.fire();
    wiring.drain(caps).await;
    Ok(())
}

/// What every part of an instance is wired with, and the tasks they run.
struct Wiring {
    config: Arc<Config>,
    store: Store,
    instance: InstanceId,
    stop: Shutdown,
    tasks: Tasks,
    health: Health,
}

/// The certificate manager's parts the edge and the cluster are wired to.
struct Core {
    tables: Arc<EdgeTables>,
    /// CRLs fetched from routes' `crl_urls`: filled by the cluster's fetcher, read by handshakes.
    crls: Arc<crate::tls::crls::CrlCache>,
    lifecycle: Lifecycle,
    acme: Arc<AcmeIssuer>,
    profiles: Arc<crate::acme::profiles::ProfileCatalog>,
    on_demand: Option<OnDemand>,
}

/// The connection caps and their semaphores (every open connection holds a permit).
struct Caps {
    sizes: ConnectionCaps,
    edge: Arc<Semaphore>,
    admin: Arc<Semaphore>,
}

impl Wiring {
    /// The admin's identity; generated (and printed once) by the first instance when
    /// `ADMIN_TOKEN` is unset.
    fn admin_owner(&mut self) -> Arc<AdminOwner> {
        let owner = Arc::new(AdminOwner::new(
            self.config
                .listeners
                .admin_token
                .as_ref()
                .map(|t| t.expose()),
        ));
        if self.config.listeners.admin_token.is_none() {
            let (store, stop, owner) = (self.store.writer(), self.stop.clone(), owner.clone());
            self.tasks.spawn("admin token bootstrap", async move {
                tokio::select! {
                    _ = bootstrap_admin_token(store, owner) => {}
                    _ = stop.wait() => {}
                }
            });
        }
        owner
    }

    /// The edge's tables, the change events, the issuers, the lifecycle and on-demand issuance.
    fn certificate_manager(&mut self) -> anyhow::Result<Core> {
        let (config, store) = (&self.config, &self.store);
        // The tables and the publisher exist before anything that announces changes starts:
        // an announcement made to no sink would reach the other instances only at the next
        // resync.
        let tables = Arc::new(EdgeTables::new(
            store.clone(),
            config.certificates.cache_size,
            config.logs.metrics_per_certificate_limit,
        ));
        let events = Events::new(
            tables.clone(),
            Some(Arc::new(RedisPublisher::new(
                store.writer(),
                &self.instance,
            ))),
        );
        let acme = Arc::new(AcmeIssuer::new(store.writer(), config)?);
        let profiles = Arc::new(acme.profile_catalog());
        let issuers = Issuers {
            self_signed: Arc::new(SelfSignedIssuer {
                validity_days: config.certificates.self_signed_days,
            }),
            acme: Some(acme.clone()),
        };
        let lifecycle = Lifecycle::start(
            store.writer(),
            config.clone(),
            issuers,
            events,
            self.instance.clone(),
            &mut self.tasks,
            &self.stop,
        );
        let on_demand = OnDemand::new(config.clone(), store.writer(), lifecycle.clone());
        self.health.watch_certificates(tables.certs.clone());
        let crls = Arc::new(crate::tls::crls::CrlCache::default());
        self.health.watch_crls(crls.clone());
        Ok(Core {
            tables,
            crls,
            lifecycle,
            acme,
            profiles,
            on_demand,
        })
    }

    /// The HTTP and HTTPS listeners with what they serve: the SNI resolver over the tables,
    /// the default certificate, the proxy, the connection caps.
    fn edge(
        &mut self,
        core: &Core,
        upstreams: Arc<Upstreams>,
        admin_owner: Arc<AdminOwner>,
        http: TcpListener,
        https: TcpListener,
    ) -> anyhow::Result<Caps> {
        let config = &self.config.clone();
        let default_cert = Arc::new(DefaultCert::new(
            config.certificates.self_signed_days,
            config.certificates.renewal_threshold_days,
        ));
        self.tasks.spawn(
            "default certificate renewal",
            default_cert.clone().run(self.stop.clone()),
        );
        let resolver = Arc::new(SniResolver {
            cache: core.tables.certs.clone(),
            routes: core.tables.routes.clone(),
            default: default_cert,
            admin: admin_owner,
        });
        let tls = server_configs(resolver.clone(), &config.tls, core.crls.clone())?;
        self.tasks.spawn(
            "upstream health checks",
            crate::edge::upstreams::active::run(
                upstreams.clone(),
                core.tables.routes.clone(),
                self.stop.clone(),
            ),
        );
        let limiter = Arc::new(crate::edge::rate_limit::RateLimiter::new(
            self.store.clone(),
        ));
        let proxy = Proxy::new(
            core.tables.routes.clone(),
            upstreams,
            limiter,
            config.clone(),
        );
        let caps = connection_caps(config);
        let http_edge = HttpEdge {
            store: self.store.clone(),
            health: self.health.clone(),
            config: config.clone(),
            proxy: proxy.clone(),
        };
        if config.listeners.http3 {
            let h3_edge = crate::edge::h3::H3Edge {
                proxy: proxy.clone(),
                resolver: resolver.clone(),
                on_demand: core.on_demand.clone(),
                config: config.clone(),
            };
            self.http3(h3_edge, &tls, https.local_addr()?, &caps)?;
        }
        let https_edge = HttpsEdge {
            resolver,
            tls,
            proxy,
            config: config.clone(),
            store: self.store.clone(),
            on_demand: core.on_demand.clone(),
            signing: Arc::new(SigningTurns::new(config.limits.worker_threads)),
            alt_svc: crate::edge::h3::alt_svc(config),
        };
        self.tasks.spawn(
            "HTTP listener",
            http_edge.serve(http, caps.edge.clone(), self.stop.clone()),
        );
        self.tasks.spawn(
            "HTTPS listener",
            https_edge.serve(https, caps.edge.clone(), self.stop.clone()),
        );
        Ok(caps)
    }

    /// The heartbeat, the data-loss guard, the change-event subscriber and the table loader.
    fn cluster(&mut self, core: &Core, redis: RedisSettings) {
        let (store, config, instance, stop) = (
            self.store.writer(),
            self.config.clone(),
            self.instance.clone(),
            self.stop.clone(),
        );
        self.tasks.spawn("heartbeat", async move {
            crate::cluster::heartbeat::beat(store, &config, instance, stop).await
        });
        let guard = Guard::new(
            self.store.writer(),
            core.tables.clone(),
            core.lifecycle.clone(),
            Some(core.acme.clone()),
        );
        self.tasks.spawn_fallible(
            "change events subscriber",
            follow(
                redis,
                self.store.clone(),
                self.instance.clone(),
                guard.clone(),
                core.tables.clone(),
                self.stop.clone(),
            ),
        );
        let crl_fetcher = crate::cluster::crl_fetch::CrlFetcher::new(
            self.store.writer(),
            core.tables.routes.clone(),
            core.crls.clone(),
            self.config.tls.crl_refresh,
            self.instance.clone(),
        );
        self.tasks
            .spawn("CRL fetcher", crl_fetcher.run(self.stop.clone()));
        self.tasks.spawn(
            "table loader and resync",
            start_tables(
                guard,
                self.health.clone(),
                self.config.redis.resync_interval,
                self.stop.clone(),
            ),
        );
    }

    /// After the stop: the tasks end, then every connection gets the drain grace to finish.
    async fn drain(self, caps: Caps) {
        let grace = self.config.limits.drain_grace;
        self.tasks.join_all(grace).await;
        // Every open connection holds a permit: all of them back means every request has
        // finished.
        let drained = async {
            let _ = caps.edge.acquire_many(permits(caps.sizes.edge)).await;
            let _ = caps.admin.acquire_many(permits(caps.sizes.admin)).await;
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!("requests still running after the grace period; closing them");
        }
        self.store.quit().await;
    }
}

/// The connection caps, sized from the open-file limit (logged).
fn connection_caps(config: &Config) -> Caps {
    let open_files = fd_limit::current();
    let sizes = ConnectionCaps::size(
        config.limits.max_connections,
        config.limits.admin_max_connections,
        open_files,
    );
    tracing::info!(
        open_files = open_files.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        edge_connections = sizes.edge,
        max_connections = config.limits.max_connections,
        admin_connections = sizes.admin,
        admin_max_connections = config.limits.admin_max_connections,
        reserve = fd_limit::RESERVE,
        "connection caps sized from the open-file limit"
    );
    Caps {
        edge: Arc::new(Semaphore::new(sizes.edge)),
        admin: Arc::new(Semaphore::new(sizes.admin)),
        sizes,
    }
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

/// Reopens the access-log file at each SIGHUP (logrotate's `postrotate`), for as long as the
/// process runs.
pub fn reopen_access_log_on_hangup() {
    #[cfg(unix)]
    tokio::spawn(async {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            crate::edge::access_log::sink::reopen();
        }
    });
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
