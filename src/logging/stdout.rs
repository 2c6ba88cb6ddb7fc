//! Standard output for log lines: one `write` per line without the
//! process-wide lock, a reader that stalls costing dropped lines (counted)
//! instead of blocked workers, and a line given up part way ended before
//! the next one.

use tracing_subscriber::fmt::MakeWriter;

/// Standard output for log lines, without the process-wide lock of
/// [`std::io::stdout`]: tracing formats each event into its own buffer and
/// hands it over in one `write_all`, and the line is written with `write(2)`
/// on a descriptor of its own. With a worker thread per core logging a
/// line per request, the shared lock made the workers wait on each other
/// (a futex sleep and wake-up per contended line); a single `write` of a
/// line is not interleaved with another thread's (pipes: lines up to
/// `PIPE_BUF`, 4 KiB; files: the kernel serialises writes per open file).
///
/// A pipe or a socket (a container runtime's log driver, journald) is
/// written without blocking: when whoever reads it stops reading, the
/// lines it has no room for are dropped and counted
/// ([`dropped_lines`], `scim_bridge_log_lines_dropped_total`) rather than
/// freezing every worker, `/healthz` and the shutdown with them. A line
/// longer than the pipe takes at once gets up to 250 ms for the rest.
/// Files and terminals are written as before. Falls back to
/// [`std::io::stdout`] when descriptor 1 cannot be duplicated.
pub struct StdoutLines(Out, bool);

/// Whether a line was given up part way ([`TORN`]): the next line starts
/// with the line break it lacked. [`CLEAN`], or [`ENDING`] while one writer
/// writes that break; the others drop (log lines) or wait (the audit
/// trail) meanwhile, so that no line is written onto the fragment.
#[derive(Default)]
pub struct Torn(std::sync::atomic::AtomicU8);

const CLEAN: u8 = 0;
const TORN: u8 = 1;
const ENDING: u8 = 2;

impl Torn {
    fn set(&self) {
        self.0.store(TORN, std::sync::atomic::Ordering::SeqCst);
    }

    #[cfg(test)]
    fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) != CLEAN
    }

    /// Claims the ending of a torn line: `Some(true)` for the one writer
    /// that must write the line break now (then [`Self::ended`]),
    /// `Some(false)` when there is nothing to end, `None` while another
    /// writer is ending it.
    fn claim(&self) -> Option<bool> {
        use std::sync::atomic::Ordering::SeqCst;
        match self.0.compare_exchange(TORN, ENDING, SeqCst, SeqCst) {
            Ok(_) => Some(true),
            Err(CLEAN) => Some(false),
            Err(_) => None,
        }
    }

    /// The claimed line break was written (`true`) or not.
    fn ended(&self, written: bool) {
        let next = if written { CLEAN } else { TORN };
        self.0.store(next, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Standard output's [`Torn`] flag, shared with every other writer of
/// standard output (the audit trail's `sink = "stdout"`, see
/// [`end_torn_stdout_line`]).
fn stdout_torn() -> &'static Torn {
    static STDOUT: Torn = Torn(std::sync::atomic::AtomicU8::new(CLEAN));
    &STDOUT
}

/// For a writer of standard output besides the log lines (the audit
/// trail's `sink = "stdout"`, written blocking): ends a log line given up
/// part way, so that what it writes next starts on a line of its own.
pub fn end_torn_stdout_line(out: &mut impl std::io::Write) -> std::io::Result<()> {
    let torn = stdout_torn();
    // A log line ending it meanwhile takes one non-blocking write: wait for
    // it (bounded; the audit line is never dropped).
    for _ in 0..10_000 {
        match torn.claim() {
            Some(false) => return Ok(()),
            Some(true) => {
                let r = out.write_all(b"\n");
                torn.ended(r.is_ok());
                return r;
            }
            None => std::thread::yield_now(),
        }
    }
    Ok(())
}

enum Out {
    /// Our own non-blocking open file description of the pipe (opened
    /// through `/proc/self/fd/1`, so descriptor 1 itself stays blocking
    /// for anything else writing to it).
    Pipe(std::fs::File, &'static Torn),
    /// A duplicate of a socket descriptor 1, written with `MSG_DONTWAIT`.
    Socket(std::fs::File, &'static Torn),
    /// A duplicate of descriptor 1 (a file or a terminal), written as is.
    Blocking(std::fs::File),
    Std,
}

impl StdoutLines {
    pub fn new() -> StdoutLines {
        use std::os::fd::AsFd;
        let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
            return StdoutLines(Out::Std, false);
        };
        let file = std::fs::File::from(fd);
        let mut fell_back = false;
        let kind = file.metadata().map(|m| {
            use std::os::unix::fs::FileTypeExt;
            (m.file_type().is_fifo(), m.file_type().is_socket())
        });
        let out = match kind {
            Ok((true, _)) => match own_nonblocking(&file) {
                Some(own) => Out::Pipe(own, stdout_torn()),
                None => {
                    fell_back = true;
                    Out::Blocking(file)
                }
            },
            Ok((_, true)) => Out::Socket(file, stdout_torn()),
            _ => Out::Blocking(file),
        };
        StdoutLines(out, fell_back)
    }

    /// Standard output is a pipe that could not be reopened without
    /// blocking (`/proc` missing, or the pipe belongs to another user):
    /// a stalled reader would block the bridge. `serve` warns about it.
    pub fn blocks_on_a_stalled_pipe(&self) -> bool {
        self.1
    }
}

impl Default for StdoutLines {
    fn default() -> Self {
        StdoutLines::new()
    }
}

/// A non-blocking open file description of its own for the pipe `pipe`
/// (opened through `/proc/self/fd/N`: setting `O_NONBLOCK` on a duplicate
/// would make `pipe` non-blocking too); `None` where that is not possible.
fn own_nonblocking(pipe: &std::fs::File) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let own = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(format!("/proc/self/fd/{}", pipe.as_raw_fd()))
        .ok()?;
    // Still the same pipe (not a new one of that name).
    same_file(&own, pipe).then_some(own)
}

fn same_file(a: &std::fs::File, b: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Log lines dropped because standard output had no room for them (its
/// reader stalled); exported as `scim_bridge_log_lines_dropped_total`.
pub fn dropped_lines() -> &'static prometheus_client::metrics::counter::Counter {
    static DROPPED: std::sync::LazyLock<prometheus_client::metrics::counter::Counter> =
        std::sync::LazyLock::new(Default::default);
    &DROPPED
}

/// How long a line already partly written waits for room for the rest.
const REST_OF_LINE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Writes `line` (or a batch of lines, counted by their line breaks) on a
/// non-blocking descriptor with `write_once` (one
/// `write(2)` or `send(2)`): a line nothing of which fits is dropped and
/// counted at once; one partly written waits up to [`REST_OF_LINE_WAIT`]
/// for room for the rest (a torn line is worse than a late one), and when
/// given up, `torn` makes the next line start with the missing line break
/// (or be dropped too while there is no room for it).
fn write_nonblocking(
    fd: std::os::fd::BorrowedFd<'_>,
    torn: &Torn,
    line: &[u8],
    write_once: impl Fn(&[u8]) -> std::io::Result<usize>,
) -> std::io::Result<()> {
    use std::io::ErrorKind;
    // Claimed by one writer only: two would each add a line break.
    match torn.claim() {
        Some(false) => {}
        Some(true) => {
            let written = matches!(write_once(b"\n"), Ok(1));
            torn.ended(written);
            if !written {
                dropped(line);
                return Ok(());
            }
        }
        // Another writer is ending the torn line: this one would land on it.
        None => {
            dropped(line);
            return Ok(());
        }
    }
    let mut rest = line;
    let started = std::time::Instant::now();
    while !rest.is_empty() {
        match write_once(rest) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // The reader is gone (a log shipper restarting): dropped, and
            // no complaint on standard error, which may be the same pipe.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                dropped(rest);
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if rest.len() == line.len() {
                    dropped(rest);
                    return Ok(());
                }
                if started.elapsed() >= REST_OF_LINE_WAIT {
                    torn.set();
                    dropped(rest);
                    return Ok(());
                }
                use rustix::event::{poll, PollFd, PollFlags, Timespec};
                let wait = Timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                let _ = poll(&mut [PollFd::new(&fd, PollFlags::OUT)], Some(&wait));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Counts the lines of `unwritten` (a line, or the rest of a batch: the
/// lines whose line break was not written) as dropped.
fn dropped(unwritten: &[u8]) {
    let lines = unwritten.iter().filter(|&&b| b == b'\n').count().max(1);
    dropped_lines().inc_by(lines as u64);
}

/// One event's writer from [`StdoutLines`].
pub enum StdoutLine<'a> {
    Fd(&'a std::fs::File),
    Pipe(&'a std::fs::File, &'a Torn),
    Socket(&'a std::fs::File, &'a Torn),
    Std(std::io::Stdout),
}

impl std::io::Write for StdoutLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            StdoutLine::Fd(f) | StdoutLine::Pipe(f, _) | StdoutLine::Socket(f, _) => f.write(buf),
            StdoutLine::Std(s) => s.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        use std::os::fd::AsFd;
        match self {
            StdoutLine::Fd(f) => f.write_all(buf),
            StdoutLine::Pipe(f, torn) => {
                let f: &std::fs::File = f;
                write_nonblocking(f.as_fd(), torn, buf, |b| {
                    let mut w = f;
                    w.write(b)
                })
            }
            StdoutLine::Socket(f, torn) => {
                let f: &std::fs::File = f;
                write_nonblocking(f.as_fd(), torn, buf, |b| {
                    use rustix::net::{send, SendFlags};
                    Ok(send(f, b, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)?)
                })
            }
            StdoutLine::Std(s) => s.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            StdoutLine::Std(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for StdoutLines {
    type Writer = StdoutLine<'a>;

    fn make_writer(&'a self) -> StdoutLine<'a> {
        self.make_line()
    }
}

impl StdoutLines {
    /// A writer of one line (or one batch of lines).
    pub(super) fn make_line(&self) -> StdoutLine<'_> {
        match &self.0 {
            Out::Blocking(f) => StdoutLine::Fd(f),
            Out::Pipe(f, torn) => StdoutLine::Pipe(f, torn),
            Out::Socket(f, torn) => StdoutLine::Socket(f, torn),
            Out::Std => StdoutLine::Std(std::io::stdout()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader stalled: lines that do not fit are dropped and
    /// counted, at once, instead of blocking the writer (every worker, the
    /// health check and the shutdown with it); those written are whole.
    #[test]
    fn a_stalled_pipe_drops_lines_instead_of_blocking() {
        stalled_pipe_drops_whole_writes(1);
    }

    /// The same with a worker's batches (20 lines of 200 bytes, under
    /// `PIPE_BUF`): a batch goes in whole or not at all, and a dropped
    /// batch counts each of its lines.
    #[test]
    fn a_stalled_pipe_drops_whole_batches_counting_their_lines() {
        stalled_pipe_drops_whole_writes(20);
    }

    /// Held by the tests that count dropped lines: the count is one for
    /// the process, and two of them at once would count each other's.
    static DROP_COUNT: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn counting_drops() -> std::sync::MutexGuard<'static, ()> {
        DROP_COUNT.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// 2,000 lines of 200 bytes, `per_write` at a time, into a pipe of
    /// 64 KiB that nobody reads.
    fn stalled_pipe_drops_whole_writes(per_write: usize) {
        let _counting = counting_drops();
        use std::io::{Read, Write};
        use std::os::fd::AsFd;
        let (mut reader, writer) = std::io::pipe().unwrap();
        let writer = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        let own = own_nonblocking(&writer).expect("the pipe reopened");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = vec![b'x'; 199];
            line.push(b'\n');
            let lines = line.repeat(per_write);
            let before = dropped_lines().get();
            for _ in 0..2000 / per_write {
                write_nonblocking(own.as_fd(), &Default::default(), &lines, |b| {
                    (&own).write(b)
                })
                .unwrap();
            }
            tx.send(dropped_lines().get() - before).unwrap();
        });
        let dropped = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("writing into a full pipe returned");
        assert!(dropped >= 1000, "{dropped} dropped");
        drop(writer);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got.len() % (200 * per_write), 0, "whole writes only");
        assert_eq!(got.len() / 200 + dropped as usize, 2000);
    }

    /// While one writer ends a torn line, another's line is dropped rather
    /// than written onto the fragment; only one writer can claim the end.
    #[test]
    fn a_line_is_not_written_while_another_writer_ends_the_torn_one() {
        let _counting = counting_drops();
        let torn = Torn::default();
        assert_eq!(torn.claim(), Some(false), "nothing to end");
        torn.set();
        assert_eq!(torn.claim(), Some(true));
        assert_eq!(torn.claim(), None, "claimed once");
        let written = std::sync::Mutex::new(Vec::new());
        let (r, _w) = std::io::pipe().unwrap();
        let before = dropped_lines().get();
        write_nonblocking(std::os::fd::AsFd::as_fd(&r), &torn, b"line\n", |b| {
            written.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        })
        .unwrap();
        assert!(written.lock().unwrap().is_empty());
        assert_eq!(dropped_lines().get(), before + 1);
        torn.ended(true);
        assert_eq!(torn.claim(), Some(false));
    }

    /// Another writer of standard output (the audit trail) ends a log line
    /// given up part way before its own, once.
    #[test]
    fn other_stdout_writers_end_a_torn_line_first() {
        super::stdout_torn().set();
        let mut out = Vec::new();
        super::end_torn_stdout_line(&mut out).unwrap();
        super::end_torn_stdout_line(&mut out).unwrap();
        assert_eq!(out, b"\n");
    }

    /// A line given up part way (longer than the room the stalled pipe
    /// had) is ended by the next line written once there is room, so the
    /// lines after it stay whole.
    #[test]
    fn a_line_given_up_part_way_is_ended_before_the_next() {
        let _counting = counting_drops();
        use std::io::{Read, Write};
        use std::os::fd::AsFd;
        let (mut reader, writer) = std::io::pipe().unwrap();
        let writer = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        let own = own_nonblocking(&writer).expect("the pipe reopened");
        let torn = Torn::default();
        let write =
            |line: &[u8]| write_nonblocking(own.as_fd(), &torn, line, |b| (&own).write(b)).unwrap();
        let mut long = vec![b'L'; 200 * 1024];
        long.push(b'\n');
        write(&long);
        assert!(torn.is_set());
        write(b"dropped: still no room\n");
        // Drain what the pipe holds, then write on.
        let mut buf = vec![0u8; 256 * 1024];
        let mut held = 0;
        while held < 64 * 1024 {
            held += reader.read(&mut buf[held..]).unwrap();
        }
        write(b"next\n");
        drop((own, writer));
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"\nnext\n", "{:?}", String::from_utf8_lossy(&rest));
        assert!(buf[..held].iter().all(|&b| b == b'L'));
    }
}
