//! A line rendered beforehand ([`PlainLine`]) written straight to the
//! subscriber's output, without the event going through tracing's
//! dispatch.
//!
//! Through an event, the request line was dispatched to the subscriber,
//! which walked its layers, formatted the timestamp, level and target into
//! a buffer of its own, visited the event's one field, copied the line
//! into a second buffer and then into the output: about 2k instructions a
//! request on top of rendering the line. [`write_direct`] writes the same
//! bytes (`PlainEvent`'s timestamp, level and target, then the text as
//! `PlainFields` writes it) to the same writer, in one buffer kept per
//! thread. It is taken only where the event would have been written that
//! way: the subscriber formats `pretty` lines without colours, its filter
//! has no span or field rules, the caller checked the level with
//! `tracing::enabled!`, and no span is entered (a line inside a span shows
//! the span's scope; those go through the event).

use super::{push_plain_line, write_line_start, PlainFields, PlainLine};
use std::cell::RefCell;
use std::io::Write as _;
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;

/// Where a subscriber's pre-rendered lines go.
pub(super) trait DirectLines: Send + Sync {
    /// Writes `text` as the line of an event at `level` from `target`.
    fn write(&self, level: &tracing::Level, target: &str, text: &str);
}

/// The subscriber's own writer, shared between its formatting layer and
/// the direct path.
pub(super) struct Shared<W>(pub(super) Arc<W>);

impl<W> Clone for Shared<W> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Shared<W> {
    type Writer = W::Writer;

    fn make_writer(&'a self) -> W::Writer {
        self.0.make_writer()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> W::Writer {
        self.0.make_writer_for(meta)
    }
}

/// The direct path of a `pretty` subscriber writing to `W`.
pub(super) struct Direct<W> {
    pub(super) writer: Arc<W>,
    /// Whether lines start with the timestamp (`PlainEvent::time`).
    pub(super) time: bool,
}

impl<W> DirectLines for Direct<W>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    fn write(&self, level: &tracing::Level, target: &str, text: &str) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let write = |buf: &mut String| {
            buf.clear();
            // Formatting into a `String` does not fail.
            let _ = write_line_start(self.time, level, buf);
            buf.push_str(target);
            buf.push_str(": ");
            let _ = push_plain_line(buf, text);
            buf.push('\n');
            // Reported as tracing-subscriber reports an event it could not
            // write (its `log_internal_errors`, on by default).
            if let Err(e) = self.writer.make_writer().write_all(buf.as_bytes()) {
                eprintln!("[tracing-subscriber] Unable to write an event to the Writer for this Subscriber! Error: {e}\n");
            }
        };
        // A line logged while this thread writes one (the writer logging)
        // gets a buffer of its own.
        let _ = LINE.try_with(|b| match b.try_borrow_mut() {
            Ok(mut b) => write(&mut b),
            Err(_) => write(&mut String::new()),
        });
    }
}

/// Writes `line` as an `INFO` event from `target` would be written, when
/// the current subscriber has a direct path ([`PlainFields::direct`]) and
/// no span is entered; `false` (nothing written) otherwise, and the caller
/// logs the event. The caller has checked the level (`tracing::enabled!`
/// at its own call site, whose target is `target`).
pub fn write_direct(target: &str, line: &PlainLine) -> bool {
    tracing::dispatcher::get_default(|d| {
        let Some(PlainFields {
            direct: Some(direct),
        }) = d.downcast_ref::<PlainFields>()
        else {
            return false;
        };
        if d.current_span().id().is_some() {
            return false;
        }
        direct.write(&tracing::Level::INFO, target, line.as_str());
        true
    })
}

#[cfg(test)]
mod tests {
    use super::super::capture::Buf;
    use super::super::{PlainEvent, PlainFields, PlainLine};
    use std::sync::Arc;

    /// A `pretty` subscriber whose events go to `events` and whose direct
    /// path goes to `direct`.
    fn split(events: &Buf, direct: &Buf, prerendered: bool) -> tracing::Dispatch {
        let (e, d) = (events.clone(), direct.clone());
        tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || e.clone())
            .fmt_fields(PlainFields::new(
                prerendered,
                Arc::new(move || d.clone()),
                false,
            ))
            .event_format(PlainEvent { time: false })
            .finish()
            .into()
    }

    fn text(b: &Buf) -> String {
        String::from_utf8(b.0.lock().unwrap().clone()).unwrap()
    }

    /// The line goes the direct way when it can; inside a span, and under
    /// a filter with field rules, through the event (which shows the scope).
    #[test]
    fn a_line_is_written_directly_outside_spans_only() {
        let mut line = PlainLine::new("request");
        line.text("request_id", "sb-1");
        line.number("status", 200);
        let log = || {
            if !super::write_direct("scim_bridge::here", &line) {
                tracing::info!(target: "scim_bridge::here", plain_line = line.as_str());
            }
        };
        let want = " INFO scim_bridge::here: request request_id=\"sb-1\" status=200\n";

        let (events, direct) = (Buf::default(), Buf::default());
        tracing::dispatcher::with_default(&split(&events, &direct, true), log);
        assert_eq!((text(&events), text(&direct)), (String::new(), want.into()));

        let (events, direct) = (Buf::default(), Buf::default());
        tracing::dispatcher::with_default(&split(&events, &direct, true), || {
            tracing::info_span!("tenant", tenant = "acme").in_scope(log)
        });
        assert_eq!(
            (text(&events), text(&direct)),
            (
                format!(" INFO tenant{{tenant=\"acme\"}}: {}", &want[6..]),
                String::new()
            )
        );

        let (events, direct) = (Buf::default(), Buf::default());
        tracing::dispatcher::with_default(&split(&events, &direct, false), log);
        assert_eq!((text(&events), text(&direct)), (want.into(), String::new()));
    }
}
