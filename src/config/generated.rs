//! `config/example.toml` and the README's settings table, generated from
//! [`super::settings::SETTINGS`]. The tests fail when a file disagrees with the table;
//! `just settings` (`UPDATE_GENERATED=1`) rewrites them.

use std::path::Path;

use super::settings::{Default, Kind, Setting, SETTINGS};

const README_BEGIN: &str = "<!-- settings table: generated from src/config/settings.rs -->\n";
const README_END: &str = "<!-- end of settings table -->\n";

/// How a value is written in TOML.
fn toml_value(setting: &Setting, text: &str) -> String {
    match setting.kind {
        Kind::Number { .. } | Kind::Seconds { .. } | Kind::Flag => text.to_owned(),
        Kind::Choice(_) if text.parse::<u64>().is_ok() => text.to_owned(),
        Kind::Cidrs | Kind::List(_) | Kind::MediaTypes => {
            let items: Vec<String> = text
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| format!("{s:?}"))
                .collect();
            format!("[{}]", items.join(", "))
        }
        _ => format!("{text:?}"),
    }
}

/// The whole `config/example.toml`.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# certgate configuration: every key with its unit and default.\n\
         # Generated from src/config/settings.rs (`just settings`); edit the table, not this file.\n\
         # Keys are the environment variable names in lower case; the environment overrides this file.\n\
         # Use with: certgate serve --config config/example.toml\n",
    );
    let mut section = "";
    for s in SETTINGS {
        if s.section != section {
            section = s.section;
            out.push_str(&format!("\n# --- {section} ---\n"));
        }
        let key = s.name.to_ascii_lowercase();
        out.push_str(&format!(
            "# {} ({}). Default: {}.\n",
            s.doc,
            s.unit(),
            s.default_text()
        ));
        match s.default {
            Default::Value(v) => out.push_str(&format!("{key} = {}\n", toml_value(s, v))),
            Default::Unset { example, .. } => {
                out.push_str(&format!("# {key} = {}\n", toml_value(s, example)))
            }
            Default::Cores => out.push_str(&format!("# {key} = 2\n")),
        }
    }
    out
}

/// The README's table, between its markers.
pub fn readme_table() -> String {
    let mut out = String::from(README_BEGIN);
    out.push_str("| variable | default | accepts | what it does |\n|---|---|---|---|\n");
    for s in SETTINGS {
        let default = s.default_text();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            s.name,
            default.replace('|', "\\|"),
            s.accepts().replace('|', "\\|"),
            s.doc.replace('|', "\\|")
        ));
    }
    out.push_str(README_END);
    out
}

/// `text` with the part between the README markers replaced by `table`.
fn splice_readme(text: &str, table: &str) -> Option<String> {
    let start = text.find(README_BEGIN)?;
    let end = text.find(README_END)? + README_END.len();
    Some(format!("{}{table}{}", &text[..start], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn update() -> bool {
        std::env::var("UPDATE_GENERATED").is_ok_and(|v| v == "1")
    }

    #[test]
    fn example_toml_matches_the_table() {
        let path = root().join("config/example.toml");
        let expected = example_toml();
        if update() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap();
        assert!(
            actual == expected,
            "config/example.toml disagrees with src/config/settings.rs; run `just settings`"
        );
    }

    #[test]
    fn example_toml_parses_to_the_defaults() {
        let dir = std::env::temp_dir().join(format!("certgate-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("example.toml");
        std::fs::write(&file, example_toml()).unwrap();
        let raw = super::super::values::read_toml(&file).unwrap();
        let parsed = super::super::Config::from_raw(&raw).unwrap();
        let defaults = super::super::Config::defaults();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn readme_table_matches_the_table() {
        let path = root().join("README.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = splice_readme(&text, &readme_table())
            .expect("README.md has the settings table markers");
        if update() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap();
        assert!(
            actual == expected,
            "README.md's settings table disagrees with src/config/settings.rs; run `just settings`"
        );
    }

    #[test]
    fn every_setting_parses_its_own_default() {
        // `Config::defaults` reads every setting through the table; a setting the parser asks
        // for that the table lacks panics here.
        let _ = super::super::Config::defaults();
        for s in SETTINGS {
            assert!(!s.doc.is_empty() && !s.section.is_empty(), "{}", s.name);
        }
    }
}
