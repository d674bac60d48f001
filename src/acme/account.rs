//! ACME accounts: one per (directory URL, e-mail), registered once under a Redis lock, with its
//! credentials in Redis so that every instance and every order reuses it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use instant_acme::{Account, AccountCredentials, ExternalAccountKey, NewAccount};

use super::http::AcmeHttp;
use super::problem::{retry_delay, to_issue_error};
use crate::certs::issuer::IssueError;
use crate::config::Eab;
use crate::secret::Secret;
use crate::store::acme_accounts::AcmeAccountInfo;
use crate::store::StoreWriter;

/// How long a registration may hold the lock, and how long others wait for it.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// Accounts known to this instance, loaded from Redis or registered on first use.
pub struct Accounts {
    store: StoreWriter,
    http: AcmeHttp,
    /// Accounts in use here, with their credentials and operator view so they can be written
    /// back when Redis lost them.
    cache: Mutex<HashMap<String, Held>>,
    /// External Account Bindings by directory URL (`ACME_EAB_*`, `ACME_STAGING_EAB_*`).
    bindings: HashMap<String, Eab>,
}

/// One account in use here.
#[derive(Clone)]
struct Held {
    account: Account,
    credentials: Secret,
    info: AcmeAccountInfo,
}

/// The storage id of the account for a directory and e-mail.
pub fn account_id(directory_url: &str, email: Option<&str>) -> String {
    let input = format!("{directory_url}\n{}", email.unwrap_or(""));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    hex::encode(&digest.as_ref()[..16])
}

impl Accounts {
    /// Accounts stored through `store`, registered over `http`, with EAB `bindings` by directory URL.
    pub fn new(store: StoreWriter, http: AcmeHttp, bindings: HashMap<String, Eab>) -> Self {
        Accounts {
            store,
            http,
            cache: Mutex::new(HashMap::new()),
            bindings,
        }
    }

    /// The account for `directory_url` and `email`, registering it if no instance has yet.
    pub async fn get(
        &self,
        directory_url: &str,
        email: Option<&str>,
    ) -> Result<Account, IssueError> {
        let id = account_id(directory_url, email);
        let cached = self.cache.lock().expect("account cache").get(&id).cloned();
        if let Some(held) = cached {
            // One SET NX per issuance: after a data loss the account comes back with the
            // first order that uses it even if the guard has not written it back yet.
            if self.write_back(&id, &held).await.map_err(storage)? {
                tracing::warn!(
                    directory = directory_url,
                    "ACME account was missing in Redis; written back"
                );
            }
            return Ok(held.account);
        }
        let deadline = Instant::now() + LOCK_TTL;
        loop {
            if let Some(credentials) = self.store.acme().account(&id).await.map_err(storage)? {
                let account = self.restore(&credentials).await?;
                let info = self
                    .record_info(&id, directory_url, email, &account)
                    .await?;
                self.keep(id, &account, credentials, info);
                return Ok(account);
            }
            let lock_value = crate::ids::random_hex(8);
            if self
                .store
                .lock_acme_account(&id, &lock_value, LOCK_TTL)
                .await
                .map_err(storage)?
            {
                let result = self.register(&id, directory_url, email).await;
                let _ = self.store.unlock_acme_account(&id).await;
                let (account, credentials) = result?;
                let info = self
                    .record_info(&id, directory_url, email, &account)
                    .await?;
                self.keep(id, &account, credentials, info);
                return Ok(account);
            }
            if Instant::now() > deadline {
                // Say what is known: the other worker has held the registration for the whole
                // lock time, which is what an unreachable or hanging directory looks like.
                return Err(IssueError::Transient(format!(
                    "no ACME account for {directory_url} after waiting {} s for another worker \
                     registering it; the directory may be unreachable or not answering",
                    LOCK_TTL.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Makes the account visible to operators (`GET /acme/accounts`), once; what was recorded.
    async fn record_info(
        &self,
        id: &str,
        directory_url: &str,
        email: Option<&str>,
        account: &Account,
    ) -> Result<AcmeAccountInfo, IssueError> {
        let info = AcmeAccountInfo {
            directory: directory_url.to_owned(),
            email: email.map(str::to_owned),
            account_url: account.id().to_owned(),
            created_at: crate::timefmt::now_string(),
        };
        self.store
            .record_acme_account_info(id, &info)
            .await
            .map_err(storage)?;
        Ok(info)
    }

    fn keep(&self, id: String, account: &Account, credentials: Secret, info: AcmeAccountInfo) {
        let held = Held {
            account: account.clone(),
            credentials,
            info,
        };
        self.cache.lock().expect("account cache").insert(id, held);
    }

    /// Writes one held account (credentials and operator view) back where Redis lacks it;
    /// `true` when the credentials were missing.
    async fn write_back(&self, id: &str, held: &Held) -> crate::store::StoreResult<bool> {
        let missing = self
            .store
            .restore_acme_account(id, &held.credentials)
            .await?;
        // Unconditional (SET NX inside): the view may be missing while the key is not.
        self.store.record_acme_account_info(id, &held.info).await?;
        Ok(missing)
    }

    /// Writes back every account this instance holds where Redis lacks it (the data-loss
    /// guard's write-back); how many were missing.
    pub async fn write_back_all(&self) -> crate::store::StoreResult<usize> {
        let held: Vec<(String, Held)> = self
            .cache
            .lock()
            .expect("account cache")
            .iter()
            .map(|(id, held)| (id.clone(), held.clone()))
            .collect();
        let mut written = 0;
        for (id, held) in &held {
            if self.write_back(id, held).await? {
                written += 1;
            }
        }
        Ok(written)
    }

    async fn restore(&self, credentials: &Secret) -> Result<Account, IssueError> {
        let mut attempt = 0;
        loop {
            let parsed: AccountCredentials =
                serde_json::from_str(credentials.expose()).map_err(|e| {
                    IssueError::Internal(format!("stored ACME account is unreadable: {e}"))
                })?;
            match Account::builder_with_http(Box::new(self.http.clone()))
                .from_credentials(parsed)
                .await
            {
                Ok(account) => return Ok(account),
                Err(e) => match retry_delay(&e, attempt, super::http::retry_after()) {
                    Some(delay) => {
                        attempt += 1;
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(to_issue_error("loading the ACME directory", e)),
                },
            }
        }
    }

    async fn register(
        &self,
        id: &str,
        directory_url: &str,
        email: Option<&str>,
    ) -> Result<(Account, Secret), IssueError> {
        // Someone may have finished registering between our read and our lock.
        if let Some(credentials) = self.store.acme().account(id).await.map_err(storage)? {
            return Ok((self.restore(&credentials).await?, credentials));
        }
        let contact = email.map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let binding = self
            .bindings
            .get(directory_url)
            .map(|eab| ExternalAccountKey::new(eab.kid.clone(), eab.hmac_key.expose()));
        let mut attempt = 0;
        let (account, credentials) = loop {
            let new_account = NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            };
            let builder = Account::builder_with_http(Box::new(self.http.clone()));
            match builder
                .create(&new_account, directory_url.to_owned(), binding.as_ref())
                .await
            {
                Ok(created) => break created,
                Err(e) => match retry_delay(&e, attempt, super::http::retry_after()) {
                    Some(delay) => {
                        attempt += 1;
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(to_issue_error("registering the ACME account", e)),
                },
            }
        };
        let json = serde_json::to_string(&credentials)
            .map_err(|e| IssueError::Internal(format!("cannot serialise ACME credentials: {e}")))?;
        let credentials = Secret::new(json);
        self.store
            .put_acme_account(id, &credentials)
            .await
            .map_err(storage)?;
        tracing::info!(
            directory = directory_url,
            account = account.id(),
            "registered ACME account"
        );
        Ok((account, credentials))
    }
}

fn storage(e: crate::store::StoreError) -> IssueError {
    IssueError::Storage(e)
}
