//! The `certgate` binary: `serve`, or a command of the admin API's client.

#![deny(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use certgate::cli::{Cli, Command};
use certgate::client::{commands, AdminClient};
use certgate::config::{Config, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Cert(cmd) => client_command(&cli.admin_url, cli.token, |c| {
            Box::pin(async move { commands::cert(&c, cmd).await })
        }),
        Command::Proxy(cmd) => client_command(&cli.admin_url, cli.token, |c| {
            Box::pin(async move { commands::proxy(&c, cmd).await })
        }),
        Command::Token(cmd) => client_command(&cli.admin_url, cli.token, |c| {
            Box::pin(async move { commands::token(&c, cmd).await })
        }),
        Command::Acme(cmd) => client_command(&cli.admin_url, cli.token, |c| {
            Box::pin(async move { commands::acme(&c, cmd).await })
        }),
        Command::Keys(cmd) => client_command(&cli.admin_url, cli.token, |c| {
            Box::pin(async move { commands::keys(&c, cmd).await })
        }),
    }
}

type CommandFuture = std::pin::Pin<Box<dyn std::future::Future<Output = commands::CommandResult>>>;

fn client_command(
    admin_url: &str,
    token: Option<String>,
    run: impl FnOnce(AdminClient) -> CommandFuture,
) -> ExitCode {
    let token = token
        .or_else(|| std::env::var("ADMIN_TOKEN").ok())
        .filter(|t| !t.is_empty());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("certgate: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = AdminClient::new(admin_url, token);
    match runtime.block_on(run(client)) {
        Ok(value) => print_result(&value),
        Err(reason) => {
            eprintln!("certgate: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the command's JSON to stdout. A reader that went away (`certgate cert list | head -1`)
/// ends the command quietly, as `cat` does; `println!` would panic on the broken pipe.
fn print_result(value: &serde_json::Value) -> ExitCode {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certgate: cannot write the result: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(file: Option<&std::path::Path>) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("certgate: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    if let Err(e) = certgate::edge::access_log::sink::install(&config.logs.access_log) {
        eprintln!("certgate: {e}");
        return ExitCode::from(2);
    }
    // An edge holds one descriptor per client: lift the soft limit before anything opens.
    certgate::fd_limit::raise_to_hard_limit();
    // One worker: a current-thread runtime does the same work without the work-stealing
    // scheduler's cross-thread wake-ups (key generation still runs on the blocking pool).
    let runtime = if config.limits.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.limits.worker_threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("certgate: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listeners = certgate::app::Listeners::bind(&config).await?;
        certgate::app::reopen_access_log_on_hangup();
        certgate::app::run(config.clone(), listeners, certgate::app::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.logs.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.logs.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
