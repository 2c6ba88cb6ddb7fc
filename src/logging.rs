//! The tracing subscriber `serve` installs: one line per event, `pretty`
//! (human-readable) or `json` (one JSON object per line), filtered by
//! `log.level` or `SCIM_BRIDGE_LOG`.

use crate::config::LogFormat;
use tracing_subscriber::fmt::MakeWriter;

/// A subscriber writing to `writer` (stdout for `serve`; a buffer in tests).
/// `filter` is a tracing filter such as `info` or `scim_bridge=debug,h2=trace`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::new(filter);
    // Colours only for a person at a terminal: escape codes in a log file or
    // a collector are noise, and painting every field name costs time on
    // every request's line.
    let ansi = format == LogFormat::Pretty && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(b.json().finish()),
        LogFormat::Pretty => Box::new(b.finish()),
    }
}
