//! Links the release binary with the functions an edge runs placed together at the front of
//! `.text` (`linker/hot-functions.txt`, written by `scripts/hot-functions.py`).
//!
//! The kernel maps a binary's code 64 KiB at a time around each page touched, and the code an
//! edge runs is scattered over 14 MiB: packed, the binary's resident code during a burst of
//! handshakes falls from ≈ 12 MiB to ≈ 4 (docs/benchmarks.md, "The burst's memory"). Only the
//! order changes: a name the build does not have (the list is from another compiler or
//! dependency version) is skipped, and a build without the list links as before.
//!
//! The option is lld's. Rust links x86_64 Linux binaries with its own lld since 1.90; elsewhere,
//! or with `CERTGATE_HOT_FUNCTIONS=0`, nothing is passed.

use std::path::Path;
use std::process::Command;

const LIST: &str = "linker/hot-functions.txt";

fn main() {
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CERTGATE_HOT_FUNCTIONS");
    if std::env::var("CERTGATE_HOT_FUNCTIONS").as_deref() == Ok("0") {
        return;
    }
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    let list = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(LIST);
    if release && target == "x86_64-unknown-linux-gnu" && links_with_lld() && list.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=certgate=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bin=certgate=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links this target with its bundled lld by default (1.90 and later).
fn links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    matches!(minor, Some(m) if m >= 90)
}
