//! Where access-log lines go: standard output or a file reopened on SIGHUP. One sink per
//! process, installed at start.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::config::traffic::AccessLog;

/// The process's sink, once [`install`] ran with the log on.
static SINK: OnceLock<Sink> = OnceLock::new();

/// An open destination.
enum Sink {
    Stdout,
    File { path: PathBuf, file: ArcSwap<File> },
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Opens the destination `ACCESS_LOG` names; an error names the file. The first installation
/// in a process stands (instances run in one test process share it).
pub fn install(setting: &AccessLog) -> Result<(), String> {
    let sink = match setting {
        AccessLog::Off => return Ok(()),
        AccessLog::Stdout => Sink::Stdout,
        AccessLog::File(path) => Sink::File {
            file: ArcSwap::from_pointee(
                open(path).map_err(|e| format!("ACCESS_LOG {}: {e}", path.display()))?,
            ),
            path: path.clone(),
        },
    };
    let _ = SINK.set(sink);
    Ok(())
}

/// Reopens the file (SIGHUP): lines go to a new file at the configured path from now on. A
/// failure keeps the old file and is logged.
pub fn reopen() {
    if let Some(Sink::File { path, file }) = SINK.get() {
        match open(path) {
            Ok(new) => {
                file.store(Arc::new(new));
                tracing::info!(path = %path.display(), "access log reopened");
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "access log not reopened; still writing to the old file")
            }
        }
    }
}

/// Writes one line (with its newline) in one call.
pub fn write(line: &[u8]) {
    let result = match SINK.get() {
        None => return,
        Some(Sink::Stdout) => std::io::stdout().lock().write_all(line),
        Some(Sink::File { file, .. }) => (&*file.load_full()).write_all(line),
    };
    if let Err(error) = result {
        crate::metrics::METRICS.access_log_errors.inc(&[]);
        tracing::debug!(%error, "access log line lost");
    }
}
