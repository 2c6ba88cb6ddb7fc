//! `scim-bridge` command line: thin on purpose (CLI → tracing → load → bind → run).

use anyhow::Context;
use clap::{Parser, Subcommand};
use scim_bridge::config::LogFormat;
use scim_bridge::mapping::plan::{Paging, ReadSource};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "scim-bridge",
    version,
    about = "SCIM 2.0 bridge in front of a legacy REST user API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge.
    Serve {
        /// Settings file (TOML), e.g. config/scim-bridge.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// Listen address, overriding server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Load and compile settings and mappings; print a summary or every error.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the JSON Schema of mapping files (config/mapping.schema.json is generated from it).
    Schema,
    /// Show the backend calls a SCIM request would make (nothing is sent).
    Explain {
        #[arg(long, short)]
        config: PathBuf,
        /// SCIM method: GET, POST, PUT, PATCH, DELETE.
        method: String,
        /// SCIM path, with or without the base path; a query string is allowed.
        path: String,
        /// Request body (JSON) from a file, or - for standard input.
        #[arg(long)]
        body: Option<String>,
        /// A sample backend answer (JSON) used for every call; synthesized from the mapping when absent.
        #[arg(long)]
        response: Option<PathBuf>,
        /// The tenant to explain for (required when the settings list [[tenants]]).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Read an OAuth client secret from standard input and print the
    /// `pbkdf2-sha256$…` line for `auth.oauth.clients[].secrets` (the secret is never printed).
    HashSecret {
        /// PBKDF2 iterations, 100000 … 10000000.
        #[arg(long, default_value_t = scim_bridge::client_secret::PBKDF2_DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

/// jemalloc instead of glibc's malloc: a GET through the bridge allocates
/// about 120 times, and jemalloc's per-thread caches take 15 % of the
/// instructions per request off (docs/performance.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings (`_RJEM_MALLOC_CONF` in the environment is read after
/// them). Allocations over 64 KiB (the answer of a large group, its backend
/// pages, big request bodies) come from a separate arena that gives their
/// pages back when they are freed: with jemalloc's default, freed pages are
/// kept for about 10 s, and 50 concurrent reads of a 10,000-member group
/// peaked at 122 MiB instead of 35 MiB. Small allocations keep the default
/// decay: returning their pages at once cost about 20 µs per request in page
/// faults.
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
static JEMALLOC_CONF: &u8 = &b"oversize_threshold:65536\0"[0];

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&scim_bridge::mapping::model::json_schema())
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Explain {
            config,
            method,
            path,
            body,
            response,
            tenant,
        } => match explain(&config, tenant.as_deref(), &method, &path, body, response) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("scim-bridge explain: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::HashSecret { iterations } => hash_secret(iterations),
        Command::Serve { config, listen } => match serve(config, listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scim-bridge: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `hash-secret`: the secret from standard input (one trailing line break
/// dropped) → the settings line on standard output.
fn hash_secret(iterations: u32) -> ExitCode {
    use std::io::{IsTerminal, Read};
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("type the client secret, then Enter and Ctrl-D (it is echoed; prefer a pipe):");
    }
    let mut raw = String::new();
    if let Err(e) = stdin.read_to_string(&mut raw) {
        eprintln!("scim-bridge hash-secret: cannot read standard input: {e}");
        return ExitCode::FAILURE;
    }
    let secret = raw
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&raw);
    if secret.is_empty() {
        eprintln!("scim-bridge hash-secret: standard input is empty; pipe the secret in");
        return ExitCode::FAILURE;
    }
    if secret.chars().count() < scim_bridge::client_secret::PLAIN_MIN_LEN {
        eprintln!(
            "scim-bridge hash-secret: warning: the secret is shorter than {} characters; prefer a long random one",
            scim_bridge::client_secret::PLAIN_MIN_LEN
        );
    }
    match scim_bridge::client_secret::hash_pbkdf2(secret, iterations) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scim-bridge hash-secret: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let (settings, plan, tenants) = match scim_bridge::load::load_all(path, None) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("check: FAILED");
            return ExitCode::FAILURE;
        }
    };
    if tenants.is_empty() {
        print_config(&settings, &plan);
    } else {
        println!(
            "settings: {} (listen {}, {} tenants)",
            settings.file.display(),
            settings.listen,
            tenants.len()
        );
        print_process(&settings);
        for t in &tenants {
            println!(
                "\n== tenant {} ({}): {}",
                t.tenant.name,
                t.tenant.describe(),
                t.settings.file.display()
            );
            print_tenant(&t.settings, &t.plan);
        }
    }
    println!("\ncheck: OK");
    ExitCode::SUCCESS
}

/// `check`'s summary of single-tenant settings.
fn print_config(settings: &scim_bridge::config::Settings, plan: &scim_bridge::mapping::Plan) {
    println!(
        "settings: {} (listen {}, base path {})",
        settings.file.display(),
        settings.listen,
        settings.base_path
    );
    print_auth(settings);
    print_process(settings);
    print_resources(settings, plan);
}

/// One tenant's part of `check`'s summary.
fn print_tenant(settings: &scim_bridge::config::Settings, plan: &scim_bridge::mapping::Plan) {
    println!("base path: {}", settings.base_path);
    print_auth(settings);
    print_resources(settings, plan);
}

fn print_auth(settings: &scim_bridge::config::Settings) {
    println!("bearer tokens: {} configured", settings.bearer_tokens.len());
    if let Some(o) = &settings.oauth {
        println!(
            "oauth token endpoint: {} ({} client(s), tokens valid {} s)",
            o.token_path,
            o.clients.len(),
            o.token_ttl.as_secs()
        );
    }
}

/// The per-process part of `check`'s summary.
fn print_process(settings: &scim_bridge::config::Settings) {
    if let Some(a) = &settings.audit {
        match &a.sink {
            scim_bridge::config::AuditSink::File(p) => println!("audit trail: {}", p.display()),
            scim_bridge::config::AuditSink::Stdout => println!("audit trail: stdout"),
        }
    }
    match &settings.tls {
        Some(t) => println!(
            "tls: {} (client certificates {})",
            t.cert_file.display(),
            match &t.client_ca_file {
                Some(ca) => format!("required, CA {}", ca.display()),
                None => "not requested".into(),
            }
        ),
        None => println!("tls: off (plain HTTP)"),
    }
}

fn print_resources(settings: &scim_bridge::config::Settings, plan: &scim_bridge::mapping::Plan) {
    if let Some(ca) = &settings.backend_tls.ca_file {
        println!(
            "backend CA bundle: {} (replaces the system roots)",
            ca.display()
        );
    }
    for r in &plan.resources {
        println!(
            "\n{} at {}{} ({})",
            r.name, settings.base_path, r.endpoint, r.file
        );
        println!(
            "  backend: {} (auth {}, timeout {:?})",
            scim_bridge::secret::mask_userinfo(&r.backend.base_url),
            r.backend.auth_summary,
            r.backend.timeout
        );
        let paging = match &r.ops.list.paging {
            Paging::Page {
                page_param,
                size_param,
                max,
            } => format!("{page_param}/{size_param}, max {max}"),
            Paging::Offset {
                offset_param,
                limit_param,
                max,
            } => format!("{offset_param}/{limit_param}, max {max}"),
        };
        println!(
            "  list: {} {} (paging {paging})",
            r.ops.list.method, r.ops.list.path
        );
        match r.conflict_status {
            Some(c) => println!("  update: {:?}, conflict status {c}", r.update),
            None => println!("  update: {:?}, no conflict retries (no version)", r.update),
        }
        println!("  attributes:");
        for a in &r.attributes {
            let src = match (&a.write, &a.read) {
                (Some(w), _) => format!("field {w}"),
                (None, Some(ReadSource::Template(_))) => "template".to_string(),
                (None, _) => "JSONPath".to_string(),
            };
            println!(
                "    {:<45} {:<22} {}",
                a.scim_text,
                src,
                a.mutability.as_str()
            );
        }
        let pushed: Vec<String> = r
            .filters
            .iter()
            .map(|f| format!("{} eq → {}=", r.attributes[f.attr].scim_text, f.param))
            .collect();
        println!(
            "  filters pushed down: id eq → get{}{}",
            if pushed.is_empty() { "" } else { ", " },
            pushed.join(", ")
        );
    }
    for w in &plan.warnings {
        println!("warning: {w}");
    }
}

fn explain(
    config: &std::path::Path,
    tenant: Option<&str>,
    method: &str,
    path: &str,
    body: Option<String>,
    response: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use std::io::Read;
    let method: http::Method = method.to_ascii_uppercase().parse().context("bad method")?;
    let body = match body.as_deref() {
        None => None,
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            Some(s)
        }
        Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("cannot read {f}"))?),
    };
    let response = match response {
        None => None,
        Some(f) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?,
            )
            .with_context(|| format!("{} is not JSON", f.display()))?,
        ),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt
        .block_on(scim_bridge::explain::explain_tenant(
            config, tenant, None, method, path, body, response,
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    use std::fmt::Write as _;
    let mut out = String::new();
    if report.calls.is_empty() {
        writeln!(out, "no backend call")?;
    }
    for (i, c) in report.calls.iter().enumerate() {
        writeln!(out, "backend call {}: {} {}", i + 1, c.method, c.url)?;
        for (k, v) in &c.headers {
            writeln!(out, "  {k}: {v}")?;
        }
        if let Some(b) = &c.body {
            let pretty = serde_json::from_str::<serde_json::Value>(b)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| b.clone());
            writeln!(out, "  body:")?;
            for line in pretty.lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    writeln!(out, "\nSCIM answer: {}", report.status)?;
    if let Some(b) = &report.body {
        writeln!(out, "{}", serde_json::to_string_pretty(b)?)?;
    }
    Ok(emit(&out))
}

/// Writes a command's output to stdout. A reader that went away (`… | head`)
/// ends the command quietly and successfully, as command-line tools do.
fn emit(text: &str) -> ExitCode {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-bridge: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat, level: &str) {
    let filter = std::env::var("SCIM_BRIDGE_LOG")
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| level.to_string());
    let lines = scim_bridge::logging::BatchedStdout::new();
    let blocking = lines.blocks_on_a_stalled_pipe();
    let colours = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let sub = scim_bridge::logging::subscriber(format, &filter, lines, colours);
    // `try_init` also routes `log` records (rustls) into tracing.
    if tracing_subscriber::util::SubscriberInitExt::try_init(sub).is_err() {
        eprintln!("scim-bridge: a tracing subscriber was already installed");
    }
    if blocking {
        tracing::warn!(
            "standard output is a pipe that could not be reopened without blocking (no /proc, or the pipe belongs to another user): a log reader that stalls would block the bridge"
        );
    }
}

fn serve(config: PathBuf, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    // `--listen` is the `server.listen` override of the environment, so
    // every reload sees it too (and does not report it as a change).
    let env = listen.map(|l| {
        let mut env: std::collections::HashMap<String, String> = std::env::vars().collect();
        env.insert("SCIM_BRIDGE__SERVER__LISTEN".into(), l.to_string());
        env
    });
    // Every tenant must load: a broken one refuses the start, like a broken
    // single-tenant file (reloads later keep a broken tenant's previous one).
    let (settings, plan, tenants) =
        scim_bridge::load::load_all(&config, env.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    init_tracing(settings.log_format, &settings.log_level);
    if settings.insecure_allow_weak_tokens {
        tracing::warn!("auth.insecure_allow_weak_tokens is on: short or published bearer tokens are accepted (demo and tests only)");
    }
    // A worker writes the log lines it collected when it runs out of work.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(scim_bridge::logging::flush_thread_lines)
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let tls = match &settings.tls {
            Some(t) => {
                let server = scim_bridge::server::tls::TlsServer::new(t)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", settings.file.display()))?;
                server.spawn_reloader();
                tracing::info!(
                    cert_file = %t.cert_file.display(),
                    sha256 = %scim_bridge::server::tls::fingerprint(&server.store().current()),
                    client_certificates = if t.client_ca_file.is_some() { "required" } else { "not requested" },
                    reload_interval_ms = t.reload_interval.map_or(0, |d| d.as_millis() as u64),
                    "serving HTTPS (TLS 1.2 and 1.3); the certificate reloads on file change and SIGHUP"
                );
                Some(server)
            }
            None => {
                tracing::warn!("serving plain HTTP: put a TLS-terminating proxy in front (Entra requires HTTPS), or configure [tls]");
                None
            }
        };
        if tenants.is_empty() {
            tracing::info!(addr = %listener.local_addr()?, base_path = %settings.base_path, resource_types = plan.resources.len(), "scim-bridge listening");
        } else {
            tracing::info!(addr = %listener.local_addr()?, tenants = tenants.len(), "scim-bridge listening");
            for t in &tenants {
                tracing::info!(tenant = %t.tenant.name, selector = %t.tenant.describe(), base_path = %t.settings.base_path, resource_types = t.plan.resources.len(), "tenant");
            }
        }
        let caps = settings.backend_limits;
        tracing::info!(
            max_rps = caps.max_rps,
            max_concurrency = caps.max_concurrency,
            queue_timeout_ms = caps.queue_timeout.as_millis() as u64,
            "backend caps (per process and backend; max_rps 0 = no cap; N replicas send up to N times these)"
        );
        let state = Arc::new(
            scim_bridge::AppState::new(settings, plan)
                .with_env(env)
                .with_tenants(tenants),
        );
        scim_bridge::run_with(
            listener,
            state,
            tls.as_ref().map(|t| t.acceptor()),
            shutdown_signal(),
        )
        .await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
