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

/// Standard output for log lines, without the process-wide lock of
/// [`std::io::stdout`]: tracing formats each event into its own buffer and
/// hands it over in one `write_all`, and the line is written with `write(2)`
/// on a duplicate of descriptor 1. With a worker thread per core logging a
/// line per request, the shared lock made the workers wait on each other
/// (a futex sleep and wake-up per contended line); a single `write` of a
/// line is not interleaved with another thread's (pipes: lines up to
/// `PIPE_BUF`, 4 KiB; files: the kernel serialises writes per open file).
/// Falls back to [`std::io::stdout`] when descriptor 1 cannot be duplicated.
pub struct StdoutLines(Option<std::fs::File>);

impl StdoutLines {
    pub fn new() -> StdoutLines {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned().ok();
        StdoutLines(fd.map(std::fs::File::from))
    }
}

impl Default for StdoutLines {
    fn default() -> Self {
        StdoutLines::new()
    }
}

/// One event's writer from [`StdoutLines`].
pub enum StdoutLine<'a> {
    Fd(&'a std::fs::File),
    Std(std::io::Stdout),
}

impl std::io::Write for StdoutLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            StdoutLine::Fd(f) => f.write(buf),
            StdoutLine::Std(s) => s.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            StdoutLine::Fd(f) => f.write_all(buf),
            StdoutLine::Std(s) => s.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            StdoutLine::Fd(_) => Ok(()),
            StdoutLine::Std(s) => s.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for StdoutLines {
    type Writer = StdoutLine<'a>;

    fn make_writer(&'a self) -> StdoutLine<'a> {
        match &self.0 {
            Some(f) => StdoutLine::Fd(f),
            None => StdoutLine::Std(std::io::stdout()),
        }
    }
}
