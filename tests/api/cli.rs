//! The CLI and the just recipes as a user runs them; secret-free logs.

use super::*;

#[tokio::test]
async fn cli_prints_json_and_fails_with_one_line() {
    let (_redis, cg) = instance(&[]).await;
    let run = |args: &[&str], token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
            .args(args)
            .env_clear()
            .env("CERTGATE_ADMIN_URL", cg.admin_url())
            .env("CERTGATE_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = run(
        &[
            "cert",
            "create",
            "cli",
            "cli.test,www.cli.test",
            "--issuer",
            "self-signed",
        ],
        ADMIN_TOKEN,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cert["status"], "active");
    assert_eq!(cert["domains"], json!(["cli.test", "www.cli.test"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("completed"),
        "progress on stderr"
    );

    let out = run(&["cert", "show", "cli", "--pem"], ADMIN_TOKEN);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["private_key_pem"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));

    let out = run(&["cert", "list"], "wrong-token-wrong-token-wrong");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = run(&["token", "create", "ci"], ADMIN_TOKEN);
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("cg_"));

    let out = run(
        &[
            "cert",
            "create",
            "bad name",
            "x.test",
            "--issuer",
            "self-signed",
        ],
        ADMIN_TOKEN,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cert_name"));

    let out = run(
        &["cert", "revoke", "cli", "--reason", "superseded"],
        ADMIN_TOKEN,
    );
    assert!(!out.status.success(), "a self-signed certificate has no CA");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("409") && stderr.contains("self-signed"),
        "{stderr}"
    );

    // Several upstreams with weights, a policy and a health check in one command.
    let out = run(
        &[
            "proxy",
            "create",
            "lb.cli.test",
            "http://10.0.0.1:80=3,h2c://10.0.0.2:50051",
            "--policy",
            "least_requests",
            "--health-path",
            "/healthz",
            "--health-interval",
            "5",
        ],
        ADMIN_TOKEN,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let route: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        route["upstreams"],
        json!([
            { "url": "http://10.0.0.1:80", "weight": 3 },
            { "url": "h2c://10.0.0.2:50051", "weight": 1 }
        ])
    );
    assert_eq!(route["upstream"], "http://10.0.0.1:80");
    assert_eq!(route["policy"], "least_requests");
    assert_eq!(route["health_check"]["path"], "/healthz");
    assert_eq!(route["health_check"]["interval_seconds"], 5);
    let out = run(
        &[
            "proxy",
            "create",
            "ca.cli.test",
            "https://10.0.0.3",
            "--upstream-ca",
            "/nonexistent.pem",
        ],
        ADMIN_TOKEN,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--upstream-ca"), "{stderr}");

    let out = run(&["cert", "delete", "cli"], ADMIN_TOKEN);
    assert!(out.status.success());
    let out = run(&["cert", "status", "cli"], ADMIN_TOKEN);
    assert!(!out.status.success(), "status is gone with the certificate");
}

#[tokio::test]
async fn just_cert_recipes_as_a_user_runs_them() {
    let just = common::require_binary("just", "pip install rust-just (or cargo install just)");
    let (_redis, cg) = instance(&[]).await;
    let repo = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        std::process::Command::new(&just)
            .args(args)
            .current_dir(repo)
            .env("CERTGATE_ADMIN_URL", cg.admin_url())
            .env("CERTGATE_BIN", env!("CARGO_BIN_EXE_certgate"))
            .env("CERTGATE_ISSUER", "self-signed")
            .env_remove("ADMIN_TOKEN")
            .env_remove("CERTGATE_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(&[
        "cert",
        "create",
        "recipe",
        "recipe.test,www.recipe.test",
        "false",
        "ops@recipe.test",
        ADMIN_TOKEN,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cert["status"], "active");
    assert_eq!(cert["email"], "ops@recipe.test");

    let out = run(&["cert", "list", ADMIN_TOKEN]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["cert_name"], "recipe");

    let out = run(&["cert", "show", "recipe", "true", ADMIN_TOKEN]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["fullchain_pem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));

    let out = run(&["cert", "show", "recipe"]);
    assert!(!out.status.success(), "no token: refused");

    let out = run(&["cert", "delete", "recipe", "false", ADMIN_TOKEN]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cg.admin().get("/certificates/recipe").await.unwrap().status,
        404
    );
}

#[tokio::test]
async fn logs_never_hold_keys_or_tokens() {
    let (_redis, cg) = instance(&[("LOG_LEVEL", "debug")]).await;
    let admin = cg.admin();
    let token = new_token(&cg, "leak-check").await;
    create_self_signed(&admin, "secret", &["secret.test"]).await;
    let key = with_pem(&admin, "secret").await["private_key_pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = cg.log_text();
    let key_body: String = key.lines().nth(1).unwrap().to_owned();
    assert!(!log.contains(&key_body));
    assert!(!log.contains(&token));
    assert!(!log.contains(ADMIN_TOKEN));
}

/// `certgate cert list | head -1`: the reader goes away before certgate writes. The command
/// ends quietly (no panic, no "Broken pipe" message) instead of dying on the write.
#[tokio::test]
async fn cli_output_into_a_closed_pipe_ends_quietly() {
    let (_redis, cg) = instance(&[]).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(["cert", "list"])
        .env_clear()
        .env("CERTGATE_ADMIN_URL", cg.admin_url())
        .env("CERTGATE_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the only read end before the command can have written: its write must fail.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}
