//! A line rendered beforehand ([`PlainLine`]) written straight to the
//! subscriber's output, without the event going through tracing's
//! dispatch.
//!
//! Through an event, the request line was dispatched to the subscriber,
//! which walked its layers, formatted the timestamp, level and target into
//! a buffer of its own, visited the event's one field, copied the line
//! into a second buffer and then into the output: about 2k instructions a
//! request on top of rendering the line. [`offer_line`] writes the same
//! bytes (`PlainEvent`'s timestamp, level and target, then the text as
//! `PlainFields` writes it) to the same writer, in one buffer kept per
//! thread. It is taken only where the event would have been written that
//! way: the subscriber formats `pretty` lines without colours, its filter
//! has no span or field rules, the caller checked the level with
//! `tracing::enabled!`, and no span is entered (a line inside a span shows
//! the span's scope; those go through the event).

use super::{has_controls, push_plain_line, write_line_start, PlainFields, PlainLine};
use std::cell::RefCell;
use std::io::Write as _;
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;

/// Where a subscriber's pre-rendered lines go.
pub(super) trait DirectLines: Send + Sync {
    /// Writes the line of an event at `level` from `target` whose text is
    /// `message`, then what `fill` adds ([`PlainLine`]'s fields).
    fn write(
        &self,
        level: &tracing::Level,
        target: &str,
        message: &str,
        fill: &dyn Fn(&mut PlainLine),
    );
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
    fn write(
        &self,
        level: &tracing::Level,
        target: &str,
        message: &str,
        fill: &dyn Fn(&mut PlainLine),
    ) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let write = |buf: &mut String| {
            buf.clear();
            // Formatting into a `String` does not fail.
            let _ = write_line_start(self.time, level, buf);
            buf.push_str(target);
            buf.push_str(": ");
            // The text is rendered straight after the line's start, in
            // this thread's buffer: no line of its own to allocate and
            // copy.
            let text = buf.len();
            let mut line = PlainLine::continuing(std::mem::take(buf), message);
            fill(&mut line);
            *buf = line.into_string();
            // What `PlainFields` makes of the text as one field: a field
            // written as it is (`display`) may hold a control character.
            if has_controls(&buf[text..]) {
                let raw = buf.split_off(text);
                let _ = push_plain_line(buf, &raw);
            }
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

/// What [`offer_line`] did with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Written (or, with the level off, nothing to write).
    Done,
    /// A span is entered: the caller logs the line as an event's one
    /// field ([`PLAIN_LINE`](super::PLAIN_LINE)), which shows the scope.
    AsEvent,
    /// The subscriber does not take lines rendered beforehand (it is not
    /// a `pretty` one without colours, whose fields go through
    /// [`PlainFields`], or its filter has span or field rules): the caller
    /// logs the fields.
    AsFields,
}

/// Writes the line of an `INFO` event from `target` whose text is
/// `message` and what `fill` adds, straight to the subscriber's output,
/// when the current subscriber has a direct path (`PlainFields::direct`)
/// and no span is entered; [`Offered`] says what the caller does
/// otherwise. `on`: the caller's `tracing::enabled!` at its own call site
/// (target `target`), taken before (inside the dispatcher's call a scoped
/// subscriber would not be seen).
pub fn offer_line(target: &str, message: &str, on: bool, fill: &dyn Fn(&mut PlainLine)) -> Offered {
    tracing::dispatcher::get_default(|d| {
        let Some(PlainFields {
            direct: Some(direct),
        }) = d.downcast_ref::<PlainFields>()
        else {
            return Offered::AsFields;
        };
        if !on {
            return Offered::Done;
        }
        if d.current_span().id().is_some() {
            return Offered::AsEvent;
        }
        direct.write(&tracing::Level::INFO, target, message, fill);
        Offered::Done
    })
}

#[cfg(test)]
mod tests {
    use super::super::capture::Buf;
    use super::super::{PlainEvent, PlainFields, PlainLine};
    use super::Offered;
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
        let fill = |line: &mut PlainLine| {
            line.text("request_id", "sb-1");
            line.number("status", 200);
        };
        let log = || {
            let on = tracing::enabled!(target: "scim_bridge::here", tracing::Level::INFO);
            match super::offer_line("scim_bridge::here", "request", on, &fill) {
                Offered::Done => {}
                Offered::AsEvent => {
                    let mut line = PlainLine::new("request");
                    fill(&mut line);
                    tracing::info!(target: "scim_bridge::here", plain_line = line.as_str());
                }
                Offered::AsFields => {
                    tracing::info!(target: "scim_bridge::here", request_id = "sb-1", status = 200, "request");
                }
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
