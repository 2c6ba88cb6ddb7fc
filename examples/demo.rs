//! The demo: the example legacy Peripass backend (seeded with a few users) and
//! scim-bridge in front of it, both on loopback.
//!
//!     cargo run --release --example demo [-- --listen 127.0.0.1:8080]
//!
//! It prints the SCIM base URL and the bearer token to use. Nothing leaves
//! the machine; stop it with Ctrl-C.

#[path = "legacy_peripass/backend.rs"]
mod backend;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "-h" | "--help" => {
                println!("usage: cargo run --release --example demo [-- --listen HOST:PORT]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let api_key = std::env::var("PERIPASS_API_KEY").unwrap_or_else(|_| "peripass-demo-key".into());
    let legacy = backend::spawn(backend::Options {
        api_key: api_key.clone(),
        seed_users: 5,
        seed_teams: 2,
        ..Default::default()
    })
    .await?;

    // The shipped settings, with the backend pointed at the one just started.
    let mut env: HashMap<String, String> = std::env::vars().collect();
    env.insert("PERIPASS_URL".into(), legacy.base_url());
    env.insert("PERIPASS_API_KEY".into(), api_key);
    // The demo asks for its published token explicitly (loopback only); a
    // token of your own in SCIM_BRIDGE_TOKEN is checked like `serve` does.
    if env.get("SCIM_BRIDGE_TOKEN").is_none_or(|t| t.is_empty()) {
        env.insert(
            "SCIM_BRIDGE_TOKEN".into(),
            scim_bridge::config::defaults::DEMO_TOKEN.into(),
        );
        env.insert(
            "SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS".into(),
            "true".into(),
        );
    }
    if let Some(l) = &listen {
        env.insert("SCIM_BRIDGE__SERVER__LISTEN".into(), l.clone());
    }
    let settings_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scim-bridge.toml");
    let (settings, plan) =
        scim_bridge::load(&settings_file, Some(env.clone())).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The lines `serve` writes (colours only at a terminal).
    let filter = std::env::var("SCIM_BRIDGE_LOG")
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| settings.log_level.clone());
    let colours = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let sub = scim_bridge::logging::subscriber(
        settings.log_format,
        &filter,
        scim_bridge::logging::StdoutLines::new(),
        colours,
    );
    tracing_subscriber::util::SubscriberInitExt::try_init(sub)?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    let token = env.get("SCIM_BRIDGE_TOKEN").cloned().unwrap_or_default();
    println!("scim-bridge demo is running");
    println!("  SCIM base URL : http://{addr}{}", settings.base_path);
    println!("  Bearer token  : {token}");
    println!(
        "  legacy API    : {}/api/v1 (X-Api-Key header)",
        legacy.base_url()
    );
    println!("try:");
    println!(
        "  curl -s -H 'Authorization: Bearer {token}' http://{addr}{}/Users",
        settings.base_path
    );
    println!("stop with Ctrl-C");
    let state = Arc::new(scim_bridge::AppState::new(settings, plan).with_env(Some(env.clone())));
    scim_bridge::run(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    legacy.shutdown().await;
    Ok(())
}
