//! `legacy-peripass`: runs the example legacy Peripass user API (v1) backend.

mod backend;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", backend::USAGE);
        return ExitCode::SUCCESS;
    }
    let opts = match backend::Options::from_args(args.into_iter()) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("legacy-peripass: {e}\n\n{}", backend::USAGE);
            return ExitCode::from(2);
        }
    };
    let running = match backend::spawn(opts.clone()).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("legacy-peripass: cannot listen on {}: {e}", opts.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("legacy-peripass listening on http://{}", running.addr());
    wait_for_signal().await;
    running.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
