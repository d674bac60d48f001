//! Asking the operator's endpoint whether a name may have a certificate (`ON_DEMAND_ASK_URL`):
//! `GET <url>?domain=<name>`, `2xx` within 5 s allows; a redirect, any other status, an error
//! or a timeout refuses. Answers are remembered in Redis for every instance.

use std::time::Duration;

use http_body_util::Empty;

use crate::tls::outbound::OutboundClient;

/// How long the endpoint has to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP(S) client for the ask endpoint (system roots for `https://`).
#[derive(Clone)]
pub struct Asker {
    url: String,
    client: OutboundClient,
}

impl Asker {
    pub fn new(url: &str) -> Asker {
        Asker {
            url: url.to_owned(),
            client: crate::tls::outbound::client(ASK_TIMEOUT),
        }
    }

    /// Whether the endpoint allows `name` (already validated: letters, digits, '-', '.').
    pub async fn allows(&self, name: &str) -> bool {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let uri = format!("{}{separator}domain={name}", self.url);
        let Ok(request) = http::Request::get(&uri)
            .header(http::header::USER_AGENT, "certgate-on-demand")
            .body(Empty::new())
        else {
            return false;
        };
        match tokio::time::timeout(ASK_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => response.status().is_success(),
            Ok(Err(e)) => {
                tracing::warn!(name, error = %e, "on-demand ask endpoint unreachable: refused");
                false
            }
            Err(_) => {
                tracing::warn!(
                    name,
                    "on-demand ask endpoint did not answer within 5 s: refused"
                );
                false
            }
        }
    }
}
