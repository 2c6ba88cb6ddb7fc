//! Log lines written in batches by the runtime's worker threads.
//!
//! A line per request was a `write(2)` per request: the one system call a
//! bare proxy hop does not make, and about a tenth of the bridge's
//! throughput on a 2-core machine (docs/performance.md, sixteenth round).
//! A worker thread now collects its lines and writes them in one `write`
//! when it runs out of work ([`flush_thread_lines`], called by the runtime
//! before the worker parks), when the batch would pass [`BATCH_BYTES`] or,
//! with the next line, once its first line is [`BATCH_AGE`] old. A worker
//! that stays busy without logging keeps its lines until it goes idle. A
//! worker goes idle within microseconds of its last answer, so an idle
//! bridge's lines are written as they were; under load a batch holds the
//! lines of one round of work.
//!
//! What stays as it was:
//! - a batch is at most `PIPE_BUF` (4 KiB), so a pipe takes it whole or
//!   not at all, and lines of two workers never interleave;
//! - a reader that stalls drops lines, counted one by one
//!   (`scim_bridge_log_lines_dropped_total`), without blocking a worker;
//! - lines of any other thread (start-up, `main`, blocking tasks) and
//!   lines longer than a batch are written at once;
//! - a thread that ends (the runtime's shutdown, a panic) writes its batch
//!   as it goes.
//!
//! What changes: a process killed outright (`SIGKILL`, the OOM killer)
//! loses the lines its busy workers still held, at most one batch each,
//! all of them for requests already answered.

use super::{StdoutLine, StdoutLines};
use std::cell::RefCell;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The most a batch holds: `PIPE_BUF`, what a pipe takes in one piece.
pub(super) const BATCH_BYTES: usize = 4096;

/// How old a batch's first line may get before the next line writes the
/// batch (a worker that stays busy while logging little).
pub(super) const BATCH_AGE: Duration = Duration::from_millis(50);

/// A thread's lines not written yet.
#[derive(Default)]
pub(super) struct Batch {
    buf: Vec<u8>,
    /// When the first line of `buf` came.
    since: Option<Instant>,
    /// Whether this thread batches: set when the runtime first parks it
    /// (worker threads only; nothing else would ever write the batch).
    on: bool,
}

impl Batch {
    /// Adds `line` (a whole line, newline included), writing with `write`
    /// what must go now.
    pub(super) fn add(&mut self, line: &[u8], mut write: impl FnMut(&[u8])) {
        if self.buf.len() + line.len() > BATCH_BYTES {
            self.flush(&mut write);
        }
        if line.len() >= BATCH_BYTES {
            write(line);
            return;
        }
        self.buf.extend_from_slice(line);
        match self.since {
            None => self.since = Some(Instant::now()),
            Some(t) if t.elapsed() >= BATCH_AGE => self.flush(&mut write),
            Some(_) => {}
        }
    }

    /// Writes the lines held, if any.
    pub(super) fn flush(&mut self, write: &mut impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            write(&self.buf);
            self.buf.clear();
        }
        self.since = None;
    }
}

thread_local! {
    static BATCH: RefCell<Batch> = RefCell::new(Batch::default());
}

/// The standard output the batches go to ([`BatchedStdout`]).
static OUT: OnceLock<StdoutLines> = OnceLock::new();

fn write_out(bytes: &[u8]) {
    if let Some(out) = OUT.get() {
        // Errors other than a stalled or gone reader: nowhere to report
        // them (tracing drops a failed line the same way).
        let _ = out.make_line().write_all(bytes);
    }
}

/// Writes the lines this thread holds, and turns batching on for it. The
/// runtime calls it before a worker thread parks
/// (`Builder::on_thread_park`): the `serve` runtime does.
pub fn flush_thread_lines() {
    let _ = BATCH.try_with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            b.on = true;
            b.flush(&mut write_out);
        }
    });
}

/// A thread that ends writes what it holds.
impl Drop for Batch {
    fn drop(&mut self) {
        self.flush(&mut write_out);
    }
}

/// Standard output ([`StdoutLines`]) with the lines of the runtime's
/// worker threads batched. One per process: the batches are per thread.
pub struct BatchedStdout(&'static StdoutLines);

impl BatchedStdout {
    /// Standard output, batched. Every `BatchedStdout` writes to the first
    /// one's [`StdoutLines`].
    pub fn new() -> BatchedStdout {
        BatchedStdout(OUT.get_or_init(StdoutLines::new))
    }

    /// See [`StdoutLines::blocks_on_a_stalled_pipe`].
    pub fn blocks_on_a_stalled_pipe(&self) -> bool {
        self.0.blocks_on_a_stalled_pipe()
    }
}

impl Default for BatchedStdout {
    fn default() -> Self {
        BatchedStdout::new()
    }
}

/// One event's writer from [`BatchedStdout`].
pub struct BatchedLine(StdoutLine<'static>);

impl std::io::Write for BatchedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    /// tracing hands over a whole line in one `write_all`.
    fn write_all(&mut self, line: &[u8]) -> std::io::Result<()> {
        let batched = BATCH.try_with(|b| match b.try_borrow_mut() {
            Ok(mut b) if b.on => {
                b.add(line, write_out);
                true
            }
            _ => false,
        });
        match batched {
            Ok(true) => Ok(()),
            _ => self.0.write_all(line),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStdout {
    type Writer = BatchedLine;

    fn make_writer(&'a self) -> BatchedLine {
        BatchedLine(self.0.make_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, len: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut l = format!("line {i} ").into_bytes();
                l.resize(len - 1, b'x');
                l.push(b'\n');
                l
            })
            .collect()
    }

    /// Lines are held until the batch is flushed or would pass 4 KiB;
    /// every line comes out once, whole and in order.
    #[test]
    fn a_batch_holds_lines_up_to_pipe_buf_and_loses_none() {
        let mut b = Batch::default();
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let all = lines(50, 200);
        for l in &all[..20] {
            b.add(l, |w| writes.push(w.to_vec()));
        }
        // 20 × 200 bytes: still under 4 KiB, nothing written.
        assert!(writes.is_empty(), "{} writes", writes.len());
        for l in &all[20..] {
            b.add(l, |w| writes.push(w.to_vec()));
        }
        b.flush(&mut |w: &[u8]| writes.push(w.to_vec()));
        assert!(writes.iter().all(|w| w.len() <= BATCH_BYTES));
        assert_eq!(writes.len(), 3, "20 + 20 + 10 lines");
        assert_eq!(writes.concat(), all.concat());
        // An empty batch writes nothing.
        b.flush(&mut |_: &[u8]| panic!("an empty batch was written"));
    }

    /// A line longer than a batch goes out at once, after the lines
    /// before it.
    #[test]
    fn a_long_line_is_written_at_once_after_the_held_ones() {
        let mut b = Batch::default();
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let short = lines(2, 100);
        let long = lines(1, BATCH_BYTES + 10).remove(0);
        for l in &short {
            b.add(l, |w| writes.push(w.to_vec()));
        }
        b.add(&long, |w| writes.push(w.to_vec()));
        assert_eq!(writes, vec![short.concat(), long]);
    }

    /// A batch whose first line is older than `BATCH_AGE` is written with
    /// the next line.
    #[test]
    fn an_old_batch_is_written_with_the_next_line() {
        let mut b = Batch::default();
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let ls = lines(2, 100);
        b.add(&ls[0], |w| writes.push(w.to_vec()));
        assert!(writes.is_empty());
        b.since = Instant::now().checked_sub(BATCH_AGE);
        b.add(&ls[1], |w| writes.push(w.to_vec()));
        assert_eq!(writes, vec![ls.concat()]);
        assert!(b.since.is_none());
    }
}
