//! The periodic resync (from the change log), and the guard against a Redis that lost its data.
//!
//! Certificates, keys and routes are written back from the edge's tables; ACME accounts from the
//! issuer's cache of the accounts it uses; the statuses of generations finished here (within
//! their retention) from the lifecycle. Tokens are not in those tables, so the guard keeps its own copy of their hashes (never the tokens), refreshed at
//! every epoch check: a token created or revoked through any instance is known here within
//! [`EPOCH_CHECK`], and a revoked token is therefore resurrected only if Redis loses its data
//! within that window.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::acme::AcmeIssuer;
use crate::edge::sync::EdgeTables;
use crate::lifecycle::Lifecycle;
use crate::shutdown::Shutdown;
use crate::store::tokens::TokenInfo;
use crate::store::{StoreResult, StoreWriter};

/// How often the epoch is checked.
const EPOCH_CHECK: Duration = Duration::from_secs(2);

/// Watches Redis's epoch and writes state back when Redis lost its data.
pub struct Guard {
    store: StoreWriter,
    tables: Arc<EdgeTables>,
    /// Holds the statuses of generations finished here.
    lifecycle: Lifecycle,
    /// Holds the ACME accounts in use here.
    acme: Option<Arc<AcmeIssuer>>,
    epoch: Mutex<Option<String>>,
    tokens: Mutex<KnownTokens>,
}

/// The tokens an intact Redis last held: hashes and names only.
#[derive(Default)]
struct KnownTokens {
    named: Vec<TokenInfo>,
    /// The generated admin token's hash (when `ADMIN_TOKEN` is unset).
    generated_admin: Option<String>,
}

impl Guard {
    /// A guard writing through `store`, from the edge's `tables`, the `lifecycle`'s statuses and the ACME issuer's accounts.
    pub fn new(
        store: StoreWriter,
        tables: Arc<EdgeTables>,
        lifecycle: Lifecycle,
        acme: Option<Arc<AcmeIssuer>>,
    ) -> Arc<Guard> {
        Arc::new(Guard {
            store,
            tables,
            lifecycle,
            acme,
            epoch: Mutex::new(None),
            tokens: Mutex::new(KnownTokens::default()),
        })
    }

    /// Joins (or starts) the epoch and loads the tables; the instance is ready after this.
    pub async fn start(&self) -> StoreResult<()> {
        let epoch = self.store.ensure_epoch(&crate::ids::random_hex(8)).await?;
        *self.epoch.lock().expect("epoch lock") = Some(epoch);
        self.tables.load_all().await?;
        // Read after the epoch was joined; the first check confirms it.
        if let Ok(tokens) = self.read_tokens().await {
            *self.tokens.lock().expect("tokens lock") = tokens;
        }
        Ok(())
    }

    async fn read_tokens(&self) -> StoreResult<KnownTokens> {
        Ok(KnownTokens {
            named: self.store.tokens().list().await?,
            generated_admin: self.store.tokens().admin_hash().await?,
        })
    }

    /// Whether Redis still holds the data this instance knows of. When it does not, the
    /// instance writes back what it holds (no deletion is applied) and joins the new epoch.
    pub async fn intact(&self) -> StoreResult<bool> {
        let known = self.epoch.lock().expect("epoch lock").clone();
        // Read before the epoch: if the epoch is still the known one afterwards, Redis had not
        // lost its data when the tokens were read, so they are safe to write back later.
        let tokens = self.read_tokens().await;
        let current = self.store.cluster().epoch().await?;
        let head = self.store.cluster().change_log_head().await?;
        if known.is_some() && current == known {
            if self.store.change_log_went_back(&head) {
                // The epoch survived, the last writes did not: a failover to a replica that
                // had not received them.
                tracing::error!("Redis is missing changes this instance made or saw (a failover to a lagging replica?); writing back");
                self.write_back_all().await?;
                self.store.reset_changes_seen(&head);
                return Ok(false);
            }
            self.store.saw_change(&head);
            match tokens {
                Ok(tokens) => *self.tokens.lock().expect("tokens lock") = tokens,
                Err(e) => tracing::debug!(error = %e, "token copy not refreshed"),
            }
            return Ok(true);
        }
        tracing::error!(
            "Redis lost certgate's data (epoch changed); serving from memory and writing back"
        );
        self.write_back_all().await?;
        self.store.reset_changes_seen(&head);
        let epoch = self.store.ensure_epoch(&crate::ids::random_hex(8)).await?;
        *self.epoch.lock().expect("epoch lock") = Some(epoch);
        Ok(false)
    }

    /// Writes back everything this instance holds where Redis lacks it.
    async fn write_back_all(&self) -> StoreResult<()> {
        let (certs, routes) = self.write_back().await?;
        let tokens = self.write_back_tokens().await?;
        let accounts = match &self.acme {
            Some(acme) => acme.write_back_accounts().await?,
            None => 0,
        };
        let statuses = self.lifecycle.write_back_finished_statuses().await?;
        tracing::warn!(
            certificates = certs,
            routes,
            tokens,
            acme_accounts = accounts,
            generation_statuses = statuses,
            "wrote back what this instance holds"
        );
        Ok(())
    }

    async fn write_back(&self) -> StoreResult<(usize, usize)> {
        let mut certs = 0;
        for cert in self.tables.certs.all() {
            if self
                .store
                .restore_certificate(&cert.record, &cert.key_pem)
                .await?
            {
                certs += 1;
                // The renewal index was lost with the data: put the certificate back on it.
                let next = crate::certs::schedule::next_event(
                    &cert.record,
                    true,
                    time::OffsetDateTime::now_utc(),
                );
                self.store
                    .index_renewal(&cert.record.cert_name, next)
                    .await?;
            }
        }
        let mut routes = 0;
        for route in self.tables.routes.all() {
            if self.store.restore_route(&route).await? {
                routes += 1;
            }
        }
        Ok((certs, routes))
    }

    /// Writes back the token hashes last seen in the intact Redis; the count of named tokens
    /// written.
    async fn write_back_tokens(&self) -> StoreResult<usize> {
        let (named, generated_admin) = {
            let known = self.tokens.lock().expect("tokens lock");
            (known.named.clone(), known.generated_admin.clone())
        };
        if let Some(hash) = generated_admin {
            self.store.init_admin_token_hash(&hash).await?;
        }
        let mut written = 0;
        // Creating is restoring: it writes nothing where the name exists again.
        for token in &named {
            if self.store.create_token(token).await? {
                written += 1;
            }
        }
        Ok(written)
    }

    /// Applies the changes logged since the last resync (a full reload only when the log does
    /// not reach back that far), unless Redis lost its data (then it writes back instead).
    pub async fn resync(&self) -> StoreResult<()> {
        if self.intact().await? {
            let applied = self.tables.catch_up().await?;
            tracing::debug!(applied, "resync: caught up with the change log");
        }
        Ok(())
    }

    /// Checks the epoch every few seconds and resyncs every `resync_interval`, until `shutdown`.
    pub async fn run(self: Arc<Self>, resync_interval: Duration, shutdown: Shutdown) {
        let mut epoch_tick = tokio::time::interval(EPOCH_CHECK);
        let mut resync_tick = tokio::time::interval(resync_interval);
        resync_tick.tick().await;
        loop {
            tokio::select! {
                _ = epoch_tick.tick() => {
                    if let Err(e) = self.intact().await {
                        tracing::debug!(error = %e, "epoch check skipped: Redis unavailable");
                    }
                }
                _ = resync_tick.tick() => {
                    if let Err(e) = self.resync().await {
                        tracing::warn!(error = %e, "periodic resync failed; serving what is loaded");
                    }
                }
                _ = shutdown.wait() => return,
            }
        }
    }
}
