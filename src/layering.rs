//! The crate's layers, lowest first, and a test that no module imports one above it.
//!
//! A module may name (`crate::x`) only modules of a lower layer; modules of one layer never name
//! each other. `#[cfg(test)]` code and comments are not counted (unit tests may reach anywhere).
//! `just layers` prints the graph; this test keeps it honest in every `cargo test`.

/// Top-level modules by layer, lowest first. A new module must be placed here.
pub const LAYERS: &[&[&str]] = &[
    // Small shared types with no dependency inside the crate.
    &[
        "secret",
        "timefmt",
        "ids",
        "shutdown",
        "tasks",
        "events",
        "tokens",
        "cli",
        "store_error",
        "fd_limit",
    ],
    // Private keys sealed for storage (names `secret`).
    &["sealing"],
    // Certificates as data.
    &["certs"],
    &["config"],
    &["metrics"],
    // Route records, host-name rules, the route table.
    &["routes"],
    &["store"],
    &["tls"],
    &["health"],
    // What writes state: the ACME issuer and the lifecycle service.
    &["acme", "lifecycle"],
    // Certificates at the first handshake, through the lifecycle.
    &["on_demand"],
    &["edge"],
    &["cluster"],
    &["admin", "client"],
    &["app"],
];

/// The modules that may take the store's write handle (`Store::writer`, `docs/architecture.md`):
/// the lifecycle, the one writer of certificates, routes and tokens; and the named exceptions —
/// the cluster's write-back, change log and heartbeat, the ACME issuer's working state,
/// on-demand issuance's coordination — with `app`, which hands the handles out.
pub const WRITERS: &[&str] = &["store", "lifecycle", "cluster", "acme", "on_demand", "app"];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::LAYERS;

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    /// The top-level modules a file names through `crate::…`, outside comments and the items
    /// marked `#[cfg(test)]` (each skipped to its end, so code after a test module is still
    /// read).
    fn named_modules(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for line in outside_tests(text) {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
        found
    }

    /// The lines of `text` outside `#[cfg(test)]` items: the item after the attribute is
    /// skipped to its `;` or to the brace that closes its block (braces counted outside
    /// comments; string literals in this code base keep theirs balanced).
    fn outside_tests(text: &str) -> Vec<&str> {
        let mut kept = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim() != "#[cfg(test)]" {
                kept.push(line);
                continue;
            }
            let mut depth = 0i64;
            let mut opened = false;
            for item in lines.by_ref() {
                let code = item.split("//").next().unwrap_or_default();
                depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
                opened |= code.contains('{');
                if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                    break;
                }
            }
        }
        kept
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_imports_one_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut violations = Vec::new();
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let top = relative.iter().next().unwrap().to_string_lossy();
            let module = top.trim_end_matches(".rs");
            if matches!(module, "lib" | "main" | "layering") {
                continue;
            }
            let Some(own) = layer_of(module) else {
                violations.push(format!("{module} is in no layer of LAYERS"));
                continue;
            };
            let text = std::fs::read_to_string(&file).unwrap();
            for named in named_modules(&text) {
                if named == module {
                    continue;
                }
                match layer_of(&named) {
                    Some(layer) if layer < own => {}
                    Some(_) => violations.push(format!(
                        "{} names crate::{named}, which is not below {module}",
                        relative.display()
                    )),
                    None => {}
                }
            }
        }
        assert!(violations.is_empty(), "{}", violations.join("\n"));
    }

    #[test]
    fn the_scan_reads_past_a_test_module() {
        let text = "use crate::store::x;\n#[cfg(test)]\nmod generated;\n#[cfg(test)]\nmod tests {\n    use crate::app::y;\n    fn f() { if true { crate::admin::z(); } }\n}\nimpl A { fn g() { crate::edge::w(); } }\n";
        let named = named_modules(text);
        assert!(
            named.contains("store") && named.contains("edge"),
            "{named:?}"
        );
        assert!(
            !named.contains("app") && !named.contains("admin"),
            "{named:?}"
        );
    }

    #[test]
    fn only_the_named_writers_take_the_write_handle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut violations = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let top = relative.iter().next().unwrap().to_string_lossy();
            let module = top.trim_end_matches(".rs");
            if super::WRITERS.contains(&module) || matches!(module, "layering" | "lib" | "main") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for line in outside_tests(&text) {
                let code = line.split("//").next().unwrap_or_default();
                if code.contains(".writer()") || code.contains("StoreWriter") {
                    violations.push(format!("{}: {}", relative.display(), line.trim()));
                }
            }
        }
        assert!(
            violations.is_empty(),
            "only {:?} may write the store:\n{}",
            super::WRITERS,
            violations.join("\n")
        );
    }

    /// `text` with comments, string literals (raw ones too) and char literals blanked out,
    /// newlines kept, so braces can be counted.
    fn code_only(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c == '/' && next == Some('/') {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            } else if c == 'r'
                && matches!(next, Some('"') | Some('#'))
                && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
            {
                let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                if chars.get(i + 1 + hashes) != Some(&'"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                let close: String = std::iter::once('"')
                    .chain("#".repeat(hashes).chars())
                    .collect();
                let start = i;
                i += 2 + hashes;
                let rest: String = chars[i..].iter().collect();
                let end = rest.find(&close).map_or(chars.len(), |at| {
                    i + rest[..at].chars().count() + close.len()
                });
                for &ch in &chars[start..end] {
                    out.push(blank(ch));
                }
                i = end;
            } else if c == '"' {
                out.push(' ');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        out.push(' ');
                        i += 1;
                    }
                    if i < chars.len() {
                        out.push(blank(chars[i]));
                        i += 1;
                    }
                }
                out.push(' ');
                i += 1;
            } else if c == '\''
                && (chars.get(i + 2) == Some(&'\'')
                    || (next == Some('\\') && chars[i + 2..].iter().take(5).any(|&q| q == '\'')))
            {
                let len = if next == Some('\\') {
                    3 + chars[i + 3..].iter().position(|&q| q == '\'').unwrap_or(0)
                } else {
                    3
                };
                for _ in 0..len {
                    out.push(' ');
                }
                i += len;
            } else {
                out.push(c);
                i += 1;
            }
        }
        out
    }

    /// Every function in `text` longer than `max` lines: (its name, first line, length).
    fn long_functions(text: &str, max: usize) -> Vec<(String, usize, usize)> {
        let code = code_only(text);
        let lines: Vec<&str> = code.lines().collect();
        let mut found = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let Some(at) = lines[i].find("fn ") else {
                i += 1;
                continue;
            };
            let before = lines[i][..at].trim();
            let is_fn = before.split_whitespace().all(|w| {
                matches!(w, "pub" | "async" | "const" | "unsafe" | "extern")
                    || w.starts_with("pub(")
            });
            if !is_fn {
                i += 1;
                continue;
            }
            let name: String = lines[i][at + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let (mut depth, mut opened, mut j) = (0i64, false, i);
            while j < lines.len() {
                depth +=
                    lines[j].matches('{').count() as i64 - lines[j].matches('}').count() as i64;
                opened |= lines[j].contains('{');
                if (opened && depth <= 0) || (!opened && lines[j].trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            if opened && j + 1 - i > max {
                found.push((name, i + 1, j + 1 - i));
            }
            i = if opened { j + 1 } else { i + 1 };
        }
        found
    }

    /// A function fits on a screen or two: longer ones are split into named steps.
    #[test]
    fn no_function_is_longer_than_80_lines() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut long = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (name, line, length) in long_functions(&text, 80) {
                let relative = file.strip_prefix(&src).unwrap().display().to_string();
                long.push(format!("{relative}:{line} {name}: {length} lines"));
            }
        }
        assert!(
            long.is_empty(),
            "functions over 80 lines:\n{}",
            long.join("\n")
        );
    }

    #[test]
    fn the_length_check_counts_what_it_should() {
        let body = "    let x = 1;\n".repeat(81);
        let text = format!(
            "fn long() {{\n{body}}}\nfn short() {{ \"{{\"; '{{'; }}\n// fn not_code() {{\n"
        );
        let found = long_functions(&text, 80);
        assert_eq!(found, [("long".to_owned(), 1, 83)]);
    }

    #[test]
    fn the_scan_sees_an_upward_import() {
        let text =
            "use crate::app::run;\n// crate::admin in a comment\nfn f() { crate::edge::x(); }";
        let named = named_modules(text);
        assert!(named.contains("app") && named.contains("edge"));
        assert!(!named.contains("admin"));
    }
}
