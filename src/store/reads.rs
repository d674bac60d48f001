//! The read handles: `store.certs()`, `store.routes()`, `store.tokens()`, `store.acme()`,
//! `store.cluster()` and `store.on_demand()` group what can be read by the concept it is about,
//! so a reader finds a read where the concept's writes are (each concept's file holds both).
//! They borrow the [`Store`] and only read; every change goes through [`super::StoreWriter`].

use super::Store;

macro_rules! read_handle {
    ($(#[$doc:meta])* $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'a>(&'a Store);

        impl std::ops::Deref for $name<'_> {
            type Target = Store;

            fn deref(&self) -> &Store {
                self.0
            }
        }

        impl Store {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_> {
                $name(self)
            }
        }
    };
}

read_handle!(
    /// Reads of certificates: records, keys, lists and pages, indexes, generation status.
    CertReads,
    certs
);
read_handle!(
    /// Reads of routes: records, lists and pages, which routes name a certificate.
    RouteReads,
    routes
);
read_handle!(
    /// Reads of API tokens: names and hashes, never a token.
    TokenReads,
    tokens
);
read_handle!(
    /// Reads of the ACME issuer's working state: accounts, challenge answers, DNS records.
    AcmeReads,
    acme
);
read_handle!(
    /// Reads of the cluster's shared state: the epoch, instances, the change log, recent events.
    ClusterReads,
    cluster
);
read_handle!(
    /// Reads of on-demand issuance's coordination: the allow list, ask answers, locks, back-off.
    OnDemandReads,
    on_demand
);
