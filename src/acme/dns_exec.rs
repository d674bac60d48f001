//! dns-01 through a program the operator provides (`DNS_EXEC_PROGRAM`), lego's `exec` protocol:
//! `PROGRAM present FQDN VALUE` publishes the TXT record, `PROGRAM cleanup FQDN VALUE` removes
//! it, FQDN with its trailing dot (`_acme-challenge.example.com.`). Any provider a user already
//! scripts (or lego itself, `lego … dns exec`) works this way.
//!
//! The program runs with an empty environment but `PATH` and the variables `DNS_EXEC_ENV`
//! names (its provider credentials): nothing certgate holds (Redis URL, admin token, keys) is
//! handed to it unasked. It is killed after `DNS_EXEC_TIMEOUT_SECONDS`; a failure's stderr ends
//! up in the generation's error. It should return once the record is published; certgate
//! checks nothing further before telling the CA.

use std::process::Stdio;

use crate::certs::issuer::IssueError;
use crate::config::DnsExec;

/// How much of the program's stderr an error keeps.
const STDERR_KEPT: usize = 500;

/// Runs `DNS_EXEC_PROGRAM`.
pub struct ExecProvider {
    settings: DnsExec,
}

impl std::fmt::Debug for ExecProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProvider")
            .field("program", &self.settings.program)
            .finish_non_exhaustive()
    }
}

/// `_acme-challenge.<name>.` for `name` (its `*.` dropped).
fn challenge_fqdn(name: &str) -> String {
    format!("_acme-challenge.{}.", name.trim_start_matches("*."))
}

impl ExecProvider {
    /// A provider running `settings.program`.
    pub fn new(settings: DnsExec) -> ExecProvider {
        ExecProvider { settings }
    }

    /// `present`: publishes the record proving `name`.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        self.run("present", &challenge_fqdn(name), value).await
    }

    /// `cleanup`: removes it.
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), IssueError> {
        self.run("cleanup", &challenge_fqdn(name), value).await
    }

    /// `present` for a record under its own name (`owner`, no trailing dot): a dns-persist-01
    /// record, which stays and is not noted for the sweep.
    pub async fn add_persistent(&self, owner: &str, value: &str) -> Result<(), IssueError> {
        self.run("present", &format!("{owner}."), value).await
    }

    /// Runs `PROGRAM action FQDN VALUE`; its stderr's tail in the error when it fails.
    async fn run(&self, action: &str, fqdn: &str, value: &str) -> Result<(), IssueError> {
        let name = fqdn;
        let program = &self.settings.program;
        let mut command = tokio::process::Command::new(program);
        command
            .args([action, fqdn, value])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for variable in &self.settings.env {
            if let Some(v) = std::env::var_os(variable) {
                command.env(variable, v);
            }
        }
        let described = || format!("DNS_EXEC_PROGRAM {} {action} {fqdn}", program.display());
        let child = command
            .spawn()
            .map_err(|e| IssueError::Rejected(format!("{}: cannot run it: {e}", described())))?;
        let output = tokio::time::timeout(self.settings.timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                IssueError::Transient(format!(
                    "{} did not finish within {} s (DNS_EXEC_TIMEOUT_SECONDS)",
                    described(),
                    self.settings.timeout.as_secs()
                ))
            })?
            .map_err(|e| IssueError::Transient(format!("{}: {e}", described())))?;
        if output.status.success() {
            tracing::debug!(name, action, "dns-01 program succeeded");
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let tail = &stderr[stderr.len().saturating_sub(STDERR_KEPT)..];
        Err(IssueError::Rejected(format!(
            "{} failed ({}): {}",
            described(),
            output.status,
            if tail.is_empty() { "no output" } else { tail }
        )))
    }
}
