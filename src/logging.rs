//! The tracing subscriber `serve` installs: one line per event, `pretty`
//! (human-readable) or `json` (one JSON object per line), filtered by
//! `log.level` or `SCIM_BRIDGE_LOG`.

use crate::config::LogFormat;
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};
use tracing_subscriber::fmt::MakeWriter;

mod batch;
mod direct;
mod stdout;
pub use batch::{flush_thread_lines, BatchedStdout};
pub use direct::{offer_line, Offered};
pub use stdout::{dropped_lines, end_torn_stdout_line, StdoutLine, StdoutLines};

/// A subscriber writing to `writer` (stdout for `serve`; a buffer in tests).
/// `filter` is a tracing filter such as `info` or `scim_bridge=debug,h2=trace`.
/// `colours`: `pretty` lines painted for a terminal (the caller knows
/// whether `writer` is one; `serve` asks of standard output).
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
    colours: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let directives = filter;
    let filter = tracing_subscriber::EnvFilter::new(filter);
    // Colours only for a person at a terminal: escape codes in a log file or
    // a collector are noise, and painting every field name costs time on
    // every request's line.
    let ansi = format == LogFormat::Pretty && colours;
    // Shared with the direct path of pre-rendered lines.
    let writer = direct::Shared(std::sync::Arc::new(writer));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer.clone());
    match format {
        LogFormat::Json => Box::new(b.json().finish()),
        LogFormat::Pretty if ansi => Box::new(b.finish()),
        LogFormat::Pretty => {
            let fields = PlainFields::new(!directives.contains('['), writer.0, true);
            Box::new(
                b.fmt_fields(fields)
                    .event_format(PlainEvent { time: true })
                    .finish(),
            )
        }
    }
}

/// The timestamp of a `pretty` line: what tracing-subscriber's `SystemTime`
/// writes (RFC 3339, UTC, microseconds: `2026-12-03T13:59:07.123456Z`), with
/// the part up to the second rendered once a second per thread instead of
/// for every line.
pub struct LineTime;

impl tracing_subscriber::fmt::time::FormatTime for LineTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write_time(w)
    }
}

/// [`LineTime`]'s text, written to `w` (the direct path's `String`
/// without a `dyn` writer in between).
fn write_time(w: &mut impl std::fmt::Write) -> std::fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    write_time_at(w, now.as_secs(), now.subsec_micros())
}

/// [`write_time`] of the moment `secs` and `micros` after the epoch.
fn write_time_at(w: &mut impl std::fmt::Write, secs: u64, micros: u32) -> std::fmt::Result {
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    SECOND.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            let t = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::<chrono::Utc>::from_timestamp(s, 0))
                .unwrap_or_default();
            c.1.clear();
            write!(c.1, "{}", t.format("%Y-%m-%dT%H:%M:%S"))?;
            c.0 = secs;
        }
        w.write_str(&c.1)
    })?;
    // Character by character: no `&str` of the digits to check as UTF-8.
    w.write_char('.')?;
    let mut div = 100_000;
    while div > 0 {
        w.write_char(char::from(b'0' + (micros / div % 10) as u8))?;
        div /= 10;
    }
    w.write_char('Z')
}

/// A `pretty` line without colours: what tracing-subscriber's `Full`
/// format writes (timestamp, level, the span scope with each span's
/// fields, target, then the fields), each piece written as it is instead
/// of through `write!` and a no-op colour: about 1.3k instructions less
/// per line. `time: false` leaves out the timestamp (tests).
///
/// Events from the `log` crate (rustls logs through it; `try_init` installs
/// a `LogTracer`) show the record's own target and level, as in `Full`.
pub struct PlainEvent {
    pub time: bool,
}

/// The start of a [`PlainEvent`] line: the time (when `time`) and the
/// level. The direct path ([`offer_line`]) starts its lines with it too,
/// into its `String` (no `dyn` writer in between).
fn write_line_start(
    time: bool,
    level: &tracing::Level,
    w: &mut impl std::fmt::Write,
) -> std::fmt::Result {
    if time {
        if write_time(w).is_err() {
            w.write_str("<unknown time>")?;
        }
        w.write_char(' ')?;
    }
    w.write_str(match *level {
        tracing::Level::TRACE => "TRACE ",
        tracing::Level::DEBUG => "DEBUG ",
        tracing::Level::INFO => " INFO ",
        tracing::Level::WARN => " WARN ",
        tracing::Level::ERROR => "ERROR ",
    })
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for PlainEvent
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_log::NormalizeEvent;
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write_line_start(self.time, meta.level(), &mut writer)?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<tracing_subscriber::fmt::FormattedFields<N>>() {
                    if !fields.is_empty() {
                        writer.write_char('{')?;
                        writer.write_str(fields)?;
                        writer.write_char('}')?;
                    }
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The fields of a `pretty` line without colours: the same text as
/// tracing-subscriber's default field formatter (`name=value`, strings
/// quoted and escaped as Rust's `{:?}` does, the message as it is with
/// terminal control characters escaped), written without painting every
/// field name through a no-op colour and without `fmt` for plain strings
/// and integers. The request line has eleven fields; this took the line
/// from about 15.7k to 6.7k instructions (with [`LineTime`]).
#[derive(Default)]
pub struct PlainFields {
    /// Where a line rendered beforehand ([`PlainLine`]) may be written
    /// without an event ([`offer_line`]): the subscriber's own writer.
    /// `None` when such a line may not stand in for its fields at all
    /// ([`offer_line`] answers [`Offered::AsFields`]): the filter has span
    /// or field rules (`[…]`), which look for the fields by name.
    direct: Option<Box<dyn direct::DirectLines>>,
}

impl PlainFields {
    /// The fields of a subscriber writing to `writer`, `time`: with the
    /// timestamp (as its `PlainEvent`); `prerendered`: whether lines
    /// rendered beforehand may stand in for their fields.
    pub fn new<W>(prerendered: bool, writer: std::sync::Arc<W>, time: bool) -> PlainFields
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        PlainFields {
            direct: prerendered
                .then(|| Box::new(direct::Direct { writer, time }) as Box<dyn direct::DirectLines>),
        }
    }
}

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        // Gathered in one buffer and handed over at once: through the
        // `Writer` every piece (a space, a name, `=`, a value) is a call of
        // its own through `dyn fmt::Write`.
        let mut v = PlainVisitor {
            w: String::with_capacity(256),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result?;
        writer.write_str(&v.w)
    }
}

struct PlainVisitor {
    w: String,
    first: bool,
    result: std::fmt::Result,
}

impl PlainVisitor {
    /// Writes the separating space and `name=`; false for fields not written.
    fn name(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return false;
        }
        if !std::mem::replace(&mut self.first, false) {
            self.result = self.w.write_char(' ');
        }
        if name != "message" {
            self.result = self
                .result
                .and_then(|()| self.w.write_str(shown_name(field)))
                .and_then(|()| self.w.write_char('='));
        }
        true
    }

    /// `name=text`, the text as it is (integers, booleans).
    fn bare(&mut self, field: &Field, text: &str) {
        if self.name(field) {
            self.result = self.result.and_then(|()| self.w.write_str(text));
        }
    }
}

impl Visit for PlainVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == PLAIN_LINE && self.first {
            // A [`PlainLine`], the whole text already.
            self.first = false;
            self.result = push_plain_line(&mut self.w, value);
            return;
        }
        if !self.name(field) {
            return;
        }
        self.result = self.result.and_then(|()| {
            if field.name() == "message" {
                write_sanitized(&mut self.w, value)
            } else {
                write_quoted(&mut self.w, value)
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.bare(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.bare(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.bare(field, if value { "true" } else { "false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.name(field) {
            return;
        }
        self.result = self.result.and_then(|()| {
            write_display_sanitized(&mut self.w, value)?;
            if let Some(source) = value.source() {
                write!(self.w, " {}.sources=[", shown_name(field))?;
                let mut next = Some(source);
                let mut first = true;
                while let Some(e) = next {
                    if !std::mem::replace(&mut first, false) {
                        self.w.write_str(", ")?;
                    }
                    write_display_sanitized(&mut self.w, e)?;
                    next = e.source();
                }
                self.w.write_char(']')?;
            }
            Ok(())
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.name(field) {
            return;
        }
        self.result = self.result.and_then(|()| {
            if field.name() == "message" {
                let mut w = Sanitizing(&mut self.w);
                write!(w, "{value:?}")
            } else {
                write!(self.w, "{value:?}")
            }
        });
    }
}

/// A [`PlainLine`]'s text, written as it is: it has no control characters
/// (its strings are quoted, its message sanitised); another event's field
/// of that name that has some is sanitised as a message is.
fn push_plain_line(w: &mut String, value: &str) -> std::fmt::Result {
    if has_controls(value) {
        write_sanitized(w, value)
    } else {
        w.push_str(value);
        Ok(())
    }
}

/// Whether `text` may hold a control character [`write_sanitized`]
/// escapes (`0xc2` starts the C1 controls' encoding).
fn has_controls(text: &str) -> bool {
    // A fold, not `any`: without an early exit the check is vectorised
    // (`any` cost 1.7k instructions per request line).
    text.bytes()
        .fold(false, |acc, b| acc | (b < 0x20) | (b == 0x7f) | (b == 0xc2))
}

/// A string field's value as `{:?}` writes it, without `fmt` for the usual
/// printable text.
fn write_quoted(w: &mut String, value: &str) -> std::fmt::Result {
    // A fold, not `all`: without an early exit the check is vectorised
    // (about 250 instructions less for a request id).
    if value.bytes().fold(true, |acc, b| {
        acc & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
    }) {
        w.push('"');
        w.push_str(value);
        w.push('"');
        Ok(())
    } else {
        write!(w, "{value:?}")
    }
}

/// A message and its fields written as [`PlainFields`] writes them, for
/// an event whose only field is this text, named [`PLAIN_LINE`] (see
/// [`offer_line`]): the request line, a dozen fields on every request.
pub struct PlainLine(String);

/// The name of a [`PlainLine`]'s field, which [`PlainFields`] writes as
/// it is (not as `name="…"`).
pub const PLAIN_LINE: &str = "plain_line";

impl PlainLine {
    pub fn new(message: &str) -> PlainLine {
        PlainLine::continuing(String::with_capacity(256), message)
    }

    /// A line whose text goes on from `start` (the direct path's line
    /// start, in its buffer).
    fn continuing(mut start: String, message: &str) -> PlainLine {
        let _ = write_sanitized(&mut start, message);
        PlainLine(start)
    }

    fn into_string(self) -> String {
        self.0
    }

    #[inline]
    fn name(&mut self, name: &str) {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push('=');
    }

    /// A `&str` field (quoted, as `{:?}` writes it).
    #[inline]
    pub fn text(&mut self, name: &str, value: &str) {
        self.name(name);
        let _ = write_quoted(&mut self.0, value);
    }

    /// A `%` field whose text is `value`.
    #[inline]
    pub fn display(&mut self, name: &str, value: &str) {
        self.name(name);
        self.0.push_str(value);
    }

    /// A `%` field whose text `write` writes (what its `Display` writes).
    #[inline]
    pub fn display_with(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut String) -> std::fmt::Result,
    ) {
        self.name(name);
        let _ = write(&mut self.0);
    }

    #[inline]
    pub fn number(&mut self, name: &str, value: u64) {
        self.name(name);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A field's name as written: a raw identifier (`r#type`) without its `r#`.
fn shown_name(field: &Field) -> &'static str {
    let name = field.name();
    name.strip_prefix("r#").unwrap_or(name)
}

fn write_display_sanitized<W: std::fmt::Write>(
    w: &mut W,
    value: &dyn std::fmt::Display,
) -> std::fmt::Result {
    let mut w = Sanitizing(w);
    write!(w, "{value}")
}

fn write_sanitized<W: std::fmt::Write>(w: &mut W, text: &str) -> std::fmt::Result {
    Sanitizing(w).write_str(text)
}

/// Escapes the characters a terminal acts on (ESC, BEL, BS, FF, DEL and the
/// C1 controls), as tracing-subscriber does for messages and errors.
struct Sanitizing<'a, W>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for Sanitizing<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Printable ASCII (a message, usually) has nothing to escape: not
        // decoded char by char.
        if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return self.0.write_str(s);
        }
        let mut rest = s;
        while let Some(i) = rest.find(|c: char| {
            matches!(
                c,
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        }) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or('\0');
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// A log writer for unit tests: what is written stays in memory.
#[cfg(test)]
pub(crate) mod capture {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub(crate) struct Buf(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// How a test's lines are formatted (always without the timestamp).
    #[derive(Clone, Copy)]
    pub(crate) enum Fmt {
        /// What `serve` installs for `pretty` without a terminal.
        Plain,
        /// tracing-subscriber's own field formatter, without colours.
        Default,
        /// `pretty` at a terminal.
        Colours,
        Json,
    }

    /// A subscriber formatting with `f` into `buf`.
    pub(crate) fn dispatch(f: Fmt, buf: &Buf) -> tracing::Dispatch {
        let out = buf.clone();
        let direct = buf.clone();
        let b = tracing_subscriber::fmt()
            .with_ansi(matches!(f, Fmt::Colours))
            .without_time()
            .with_writer(move || out.clone());
        match f {
            Fmt::Json => b.json().finish().into(),
            Fmt::Default | Fmt::Colours => b.finish().into(),
            Fmt::Plain => {
                let writer = Arc::new(move || direct.clone());
                let fields = super::PlainFields::new(true, writer, false);
                b.fmt_fields(fields)
                    .event_format(super::PlainEvent { time: false })
                    .finish()
                    .into()
            }
        }
    }

    /// What `log` logs through the formatter `f`.
    pub(crate) fn logged(f: Fmt, log: impl Fn()) -> String {
        let buf = Buf::default();
        tracing::dispatcher::with_default(&dispatch(f, &buf), log);
        let v = buf.0.lock().unwrap().clone();
        String::from_utf8(v).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use tracing::{error, info, info_span, warn};

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("cannot reach the backend \x1b[2J")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn events() {
        info!(
            request_id = "sb-1f-7",
            peer = %"127.0.0.1:5000",
            tenant = Some("acme"),
            method = %http::Method::GET,
            route = "/scim/v2/Users/{id}",
            resource_type = %"User",
            status = 200u16,
            ms = 3u64,
            backend_calls = 1u64,
            backend_ms = 2u64,
            "request"
        );
        let none: Option<&str> = None;
        info!(tenant = none, status = 404u16, "request for no tenant");
        info!("terminal \x1b[31mred\x1b[0m, bell \x07, C1 \u{85}, DEL \x7f, FF \x0c, BS \x08, é");
        info!(
            detail = "quote \" backslash \\ newline \n tab \t é \u{1b} \u{85}",
            "string fields"
        );
        warn!(detail = %"line one\nline two \x1b[1m", "request failed");
        info!(
            r#type = "x",
            ok = true,
            off = false,
            n = -5i64,
            big = u64::MAX,
            "raw names and scalars"
        );
        info!(list = ?vec!["a", "b"], empty = "", "debug field");
        info!(a = 1u64, b = "two");
        let e = Outer(std::io::Error::other("connection refused \x1b[K"));
        warn!(
            error = &e as &(dyn std::error::Error + 'static),
            "backend call failed"
        );
        warn!(error = %e, "as display");
        let span = info_span!("tenant", tenant = %"acme", n = 2u64);
        let _g = span.enter();
        info!(changed = "mapping", "configuration reloaded");
        let inner = info_span!("inner", path = "a\"b");
        let _h = inner.enter();
        info!("nested");
        let bare = info_span!("bare");
        let _b = bare.enter();
        error!(status = 500u16, "in a span without fields");
    }

    fn lines(plain: bool) -> String {
        use super::capture::{logged, Fmt};
        logged(if plain { Fmt::Plain } else { Fmt::Default }, events)
    }

    /// An event from the `log` crate (rustls logs through it) shows its own
    /// target on a plain line, as in tracing-subscriber's format, not `log`.
    #[test]
    fn log_crate_events_keep_their_target() {
        use tracing_log::log;
        let ev = || {
            let record = log::Record::builder()
                .args(format_args!("Sending fatal alert BadCertificate"))
                .level(log::Level::Warn)
                .target("rustls::common_state")
                .module_path_static(Some("rustls::common_state"))
                .file_static(Some("src/common_state.rs"))
                .line(Some(42))
                .build();
            tracing_log::format_trace(&record).unwrap();
        };
        use super::capture::{logged, Fmt};
        let plain = logged(Fmt::Plain, ev);
        assert_eq!(plain, logged(Fmt::Default, ev));
        assert!(
            plain.contains(" WARN rustls::common_state: Sending fatal alert"),
            "{plain}"
        );
    }

    /// The same text as tracing-subscriber's `SystemTime` (compared within
    /// one second; the fraction differs between the two calls).
    #[test]
    fn line_time_writes_what_the_default_timer_writes() {
        use tracing_subscriber::fmt::format::Writer;
        use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
        let mut same_second = 0;
        for _ in 0..20 {
            let (mut a, mut b, mut c) = (String::new(), String::new(), String::new());
            SystemTime.format_time(&mut Writer::new(&mut a)).unwrap();
            super::LineTime
                .format_time(&mut Writer::new(&mut b))
                .unwrap();
            super::LineTime
                .format_time(&mut Writer::new(&mut c))
                .unwrap();
            assert_eq!(b.len(), a.len(), "{a} {b}");
            assert!(b.ends_with('Z') && b.as_bytes()[19] == b'.', "{b}");
            assert!(b[20..26].bytes().all(|d| d.is_ascii_digit()), "{b}");
            if a[..19] == b[..19] {
                same_second += 1;
            }
            assert!(c >= b, "{b} then {c}");
        }
        assert!(same_second > 0);
    }

    /// The fraction's digits in order, zero-padded; a second rendered
    /// again when it changes.
    #[test]
    fn line_time_writes_the_moment_it_is_given() {
        let at = |secs, micros| {
            let mut s = String::new();
            super::write_time_at(&mut s, secs, micros).unwrap();
            s
        };
        assert_eq!(at(1_700_000_000, 12_345), "2023-11-14T22:13:20.012345Z");
        assert_eq!(at(1_700_000_000, 987_654), "2023-11-14T22:13:20.987654Z");
        assert_eq!(at(1_700_000_001, 0), "2023-11-14T22:13:21.000000Z");
    }

    /// Another event's first field named `plain_line` with control
    /// characters is written as a message is (terminal controls escaped),
    /// not as it is.
    #[test]
    fn a_forged_plain_line_is_sanitised_as_a_message() {
        let text = "forged \x1b[31mred\x1b[0m \u{85} \x7f";
        let run = |log: &dyn Fn()| super::capture::logged(super::capture::Fmt::Plain, log);
        let forged = run(&|| info!(plain_line = text));
        let message = run(&|| info!("{text}"));
        assert_eq!(forged, message);
        assert!(
            !forged.contains('\x1b') && !forged.contains('\x7f'),
            "{forged}"
        );
    }

    /// Byte for byte what tracing-subscriber's own formatter writes (its
    /// `Full` format and field formatter), for every kind of field the
    /// bridge logs (terminal escapes included), levels and span scopes.
    #[test]
    fn plain_fields_write_what_the_default_formatter_writes() {
        let default = lines(false);
        let plain = lines(true);
        assert_eq!(default.lines().count(), 14, "{default}");
        assert!(
            default.contains("ERROR tenant{tenant=acme n=2}:inner{path=\"a\\\"b\"}:bare: scim_bridge::logging::tests: in a span"),
            "{default}"
        );
        for (d, p) in default.lines().zip(plain.lines()) {
            assert_eq!(p, d);
        }
        assert_eq!(plain, default);
        assert!(default.contains("\\x1b[31mred"), "{default}");
        assert!(
            default.contains("error.sources=[connection refused"),
            "{default}"
        );
    }
}
