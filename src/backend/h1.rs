//! One HTTP/1.1 connection to a backend, driven by the call that uses it.
//!
//! hyper's client runs every connection as a task of its own and passes it
//! each request and answer over channels: per call, the connection task is
//! woken to write, woken again to read, and wakes the call back (often on
//! the other worker thread). A backend call is one request and one answer
//! read in full, so here the call writes its request and reads its answer
//! itself, on the connection the pool lends it; an idle connection is just
//! a socket (or TLS stream) with its read buffer. What RFC 9112 asks of a
//! client, and what this does:
//! - the request: the request line in origin form, `Host` first (§3.2),
//!   the headers, and the body framed by `Content-Length` (also `0` for a
//!   POST, PUT or PATCH without one, §6.2). Only the bridge frames the body:
//!   a `Content-Length` or `Transfer-Encoding` among the headers is not sent.
//! - the answer's length (§6.3): none after HEAD, 1xx, 204 and 304;
//!   `chunked` (extensions ignored, trailers read and dropped; a control
//!   character in a chunk-size line, a bare LF included, is invalid); else
//!   `Content-Length`, whose values must be one number (`5, 5`
//!   is `5`); else to the close. Anything else is an invalid answer, never
//!   a guess;
//! - interim answers (1xx) are skipped; `101` (never asked for) is invalid;
//! - the fields about the connection and the framing (`Connection`,
//!   `Keep-Alive`, `Transfer-Encoding`, `Content-Length`, …) say how to
//!   read the answer and are not passed on with it;
//! - `Transfer-Encoding` must be `chunked` alone (the bridge asks for no
//!   other coding and cannot undo one);
//! - the answer's head is at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`]
//!   fields; the body at most the caller's limit, refused from its
//!   `Content-Length` before it is read;
//! - the connection carries another call only when the answer was read in
//!   full, nothing followed it, and neither side asked to close (HTTP/1.0,
//!   `Connection: close`, a body delimited by the close, `Transfer-Encoding`
//!   next to `Content-Length`).

use super::outgoing::Fields;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Longest answer head (status line and fields) read: what hyper's client
/// allowed (its largest read buffer), so backends that send large cookies
/// keep working.
pub const MAX_HEAD: usize = 400 * 1024;
/// Most header fields in an answer.
pub const MAX_HEADERS: usize = 100;
/// Read at least this much room at a time.
const READ_ROOM: usize = 8 * 1024;
/// Longest chunk-size line, extensions and CRLF included.
const MAX_CHUNK_LINE: usize = 4096;
/// An idle connection keeps a read buffer of at most this much: after a
/// larger answer the buffer is let go (it shares the body's allocation).
const MAX_IDLE_BUF: usize = 64 * 1024;
/// Most room made for a body ahead of its bytes.
const MAX_RESERVE: usize = 1024 * 1024;

/// A connection and the bytes read from it but not yet used.
pub struct H1<S> {
    io: S,
    buf: BytesMut,
}

/// An answer read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// Only the fields the bridge reads (`KEPT_FIELDS`).
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The connection can carry the next call.
    pub keep: bool,
}

/// Why a call got no answer.
#[derive(Debug)]
pub enum Failed {
    /// The first write of the request failed: the connection had closed.
    /// Over TCP not a byte went out; over TLS records may have, but never
    /// the whole request (the write failed before it was all sent), so
    /// the backend cannot have acted on it.
    NotWritten(std::io::Error),
    /// Reading or writing failed after the request (or part of it) went out.
    Io(std::io::Error),
    /// The backend closed the connection before the answer was complete.
    Closed,
    /// Not a valid HTTP/1.1 answer.
    Invalid(String),
    /// The body is larger than the caller's limit.
    TooLarge,
}

fn invalid(what: impl Into<String>) -> Failed {
    Failed::Invalid(what.into())
}

/// How the answer's body ends.
#[derive(Debug, PartialEq, Eq)]
enum Length {
    Empty,
    Fixed(u64),
    Chunked,
    Close,
}

/// The parsed head of an answer: its fields but those of the connection
/// and the framing, which say how to read it instead.
struct Head {
    status: StatusCode,
    http10: bool,
    headers: HeaderMap,
    len: usize,
    /// `Connection: close`.
    close: bool,
    /// With `Transfer-Encoding`: whether it is `chunked` alone.
    chunked_alone: Option<bool>,
    content_length: ContentLength,
}

#[derive(Clone, Copy)]
enum ContentLength {
    Absent,
    Is(u64),
    Invalid(&'static str),
}

/// A field about the connection or the message's framing (RFC 9110
/// §7.6.1, RFC 9112 §6): read here, not passed on with the answer.
#[derive(Clone, Copy)]
enum Framing {
    Connection,
    TransferEncoding,
    ContentLength,
    /// Read by no one: `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`,
    /// `Upgrade`.
    Other,
}

/// What `name` says about the framing, if anything.
fn framing_field(name: &str) -> Option<Framing> {
    [
        ("connection", Framing::Connection),
        ("transfer-encoding", Framing::TransferEncoding),
        ("content-length", Framing::ContentLength),
        ("keep-alive", Framing::Other),
        ("proxy-connection", Framing::Other),
        ("te", Framing::Other),
        ("trailer", Framing::Other),
        ("upgrade", Framing::Other),
    ]
    .into_iter()
    .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
    .map(|(_, f)| f)
}

/// The answer's header fields the bridge reads: `ETag` (a record's
/// version), `Retry-After` (a `429` or `503`), `Location` (a create's new
/// id). An answer keeps only these ([`Answer::headers`]): building a
/// `HeaderMap` entry for every other field (`Date`, `Content-Type`, …) cost
/// more than reading the head.
const KEPT_FIELDS: [HeaderName; 3] = [
    http::header::ETAG,
    http::header::RETRY_AFTER,
    http::header::LOCATION,
];

/// `name` as one of [`KEPT_FIELDS`] (any case), if it is one.
fn kept_field(name: &str) -> Option<HeaderName> {
    KEPT_FIELDS
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(name))
}

/// Whether a `Connection` field's value lists `close`.
fn lists_close(value: &[u8]) -> bool {
    elements(value).any(|t| t.eq_ignore_ascii_case(b"close"))
}

/// The comma-separated elements of a field value, trimmed, empty ones left out.
fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// The request's bytes: request line, `Host`, the headers, the framing and
/// the body. `target` is the origin form (`/path?query`), `host` the
/// `Host` to send when `headers` has none.
pub fn encode(
    method: &Method,
    target: &str,
    host: Option<&HeaderValue>,
    headers: &Fields,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let body_len = body.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(192 + target.len() + body_len);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(if target.is_empty() { "/" } else { target }.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(h) = headers.get(&HOST).or(host) {
        field(&mut out, HOST.as_str(), h.as_bytes());
    }
    for (k, v) in headers.iter() {
        if k != HOST && k != CONTENT_LENGTH && k != TRANSFER_ENCODING {
            field(&mut out, k.as_str(), v.as_bytes());
        }
    }
    if body.is_some() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        out.extend_from_slice(b"content-length: ");
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(n.format(body_len).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Whether a `Connection` field of `headers` lists `close`.
pub fn asks_to_close(headers: &Fields) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == CONNECTION && lists_close(v.as_bytes()))
}

/// The head at the start of `buf`, if it is all there.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Failed> {
    // Not initialised first: httparse writes each field it finds (zeroing
    // 100 fields cost more than parsing a short head).
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_HEAD {
                Err(invalid(format!("answer head longer than {MAX_HEAD} bytes")))
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(invalid(format!("more than {MAX_HEADERS} header fields")))
        }
        Err(e) => return Err(invalid(format!("answer head: {e}"))),
    };
    if len > MAX_HEAD {
        return Err(invalid(format!("answer head longer than {MAX_HEAD} bytes")));
    }
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| invalid("answer status"))?;
    let mut head = Head {
        status,
        http10: resp.version == Some(0),
        headers: HeaderMap::new(),
        len,
        close: false,
        chunked_alone: None,
        content_length: ContentLength::Absent,
    };
    let (mut te_codings, mut te_chunked) = (0, true);
    for f in resp.headers.iter() {
        match framing_field(f.name) {
            None => {
                if let Some(name) = kept_field(f.name) {
                    let value = HeaderValue::from_bytes(f.value)
                        .map_err(|_| invalid(format!("value of header field {name}")))?;
                    head.headers.append(name, value);
                }
            }
            Some(Framing::Connection) => head.close |= lists_close(f.value),
            Some(Framing::TransferEncoding) => {
                // The bridge asks for no transfer coding (no `TE`) and can
                // undo only `chunked`, applied once (RFC 9112 §6.1, §7).
                for t in elements(f.value) {
                    te_codings += 1;
                    te_chunked &= t.eq_ignore_ascii_case(b"chunked");
                }
                head.chunked_alone = Some(te_codings == 1 && te_chunked);
            }
            Some(Framing::ContentLength) => {
                head.content_length = content_length(head.content_length, f.value)
            }
            Some(Framing::Other) => {}
        }
    }
    Ok(Some(head))
}

/// `so_far` with one more `Content-Length` field: every element a number,
/// all of them equal (RFC 9112 §6.3 item 5).
fn content_length(so_far: ContentLength, value: &[u8]) -> ContentLength {
    let mut at = so_far;
    // Every element, empty ones too: an empty field or element is no number.
    for t in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        let n = match (t.len() <= 19 && t.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(t).ok()?.parse::<u64>().ok())
            .flatten()
        {
            Some(n) => n,
            None => return ContentLength::Invalid("Content-Length is not a number"),
        };
        at = match at {
            ContentLength::Absent => ContentLength::Is(n),
            ContentLength::Is(l) if l == n => at,
            ContentLength::Is(_) => {
                return ContentLength::Invalid("Content-Length has different values")
            }
            ContentLength::Invalid(_) => return at,
        };
    }
    at
}

/// How the body of an answer with `head` ends, and whether the connection
/// can be kept (RFC 9112 §6.3, §9.3).
fn framing(head: &Head, head_request: bool, limit: usize) -> Result<(Length, bool), Failed> {
    let mut keep = !head.http10 && !head.close;
    let status = head.status.as_u16();
    if head_request || status == 204 || status == 304 {
        return Ok((Length::Empty, keep));
    }
    if let Some(chunked) = head.chunked_alone {
        if head.http10 {
            return Err(invalid("Transfer-Encoding in an HTTP/1.0 answer"));
        }
        if !chunked {
            return Err(invalid(
                "Transfer-Encoding other than chunked alone (the bridge cannot decode it)",
            ));
        }
        // With a Content-Length too, the coding wins; the connection is not
        // trusted with another call.
        keep &= matches!(head.content_length, ContentLength::Absent);
        return Ok((Length::Chunked, keep));
    }
    match head.content_length {
        ContentLength::Absent => Ok((Length::Close, false)),
        ContentLength::Invalid(why) => Err(invalid(why)),
        ContentLength::Is(n) if n > limit as u64 => Err(Failed::TooLarge),
        ContentLength::Is(n) => Ok((Length::Fixed(n), keep)),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> H1<S> {
    pub fn new(io: S) -> H1<S> {
        H1 {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Whether an idle connection can carry a call: nothing arrived on it
    /// and the backend did not close it (a read that would wait, checked
    /// without waiting).
    pub fn alive(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        let mut rb = ReadBuf::new(&mut byte);
        let io = &mut self.io;
        // Outside tokio's cooperative budget: a task that spent it would
        // see `Pending` without a read, and a closed connection as alive.
        let check = std::pin::pin!(tokio::task::unconstrained(std::future::poll_fn(|cx| {
            Poll::Ready(Pin::new(&mut *io).poll_read(cx, &mut rb))
        })));
        matches!(
            check.poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(Poll::Pending)
        )
    }

    /// Writes `request` (from [`encode`]) and reads the answer, its body at
    /// most `limit` bytes.
    pub async fn call(
        &mut self,
        request: &[u8],
        head_request: bool,
        limit: usize,
    ) -> Result<Answer, Failed> {
        self.write(request).await?;
        self.read(head_request, limit).await
    }

    async fn write(&mut self, request: &[u8]) -> Result<(), Failed> {
        let mut at = 0;
        while at < request.len() {
            match self.io.write(&request[at..]).await {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return Err(if at == 0 {
                        Failed::NotWritten(e)
                    } else {
                        Failed::Io(e)
                    });
                }
                Ok(n) => at += n,
                Err(e) if at == 0 => return Err(Failed::NotWritten(e)),
                Err(e) => return Err(Failed::Io(e)),
            }
        }
        self.io.flush().await.map_err(Failed::Io)
    }

    /// Reads more into the buffer; `Closed` at the end of the stream.
    async fn fill(&mut self, want: usize) -> Result<(), Failed> {
        // Room for what is expected, but not all of a large body at once
        // on the backend's word alone.
        let want = want.clamp(1, MAX_RESERVE);
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want.max(READ_ROOM));
        }
        match self.io.read_buf(&mut self.buf).await {
            Ok(0) => Err(Failed::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(Failed::Io(e)),
        }
    }

    /// Reads until a line feed comes after `*from` (then `*from` moves past
    /// what was read) or the buffer holds more than `max` bytes; `false` at
    /// the end of the stream. A head or a line is parsed again only when
    /// it may have ended: a backend sending one byte at a time costs one
    /// parse per line, not one per byte.
    async fn more_lines(&mut self, from: &mut usize, max: usize) -> Result<bool, Failed> {
        loop {
            if self.buf[*from..].contains(&b'\n') || self.buf.len() > max {
                *from = self.buf.len();
                return Ok(true);
            }
            *from = self.buf.len();
            match self.fill(READ_ROOM).await {
                Ok(()) => {}
                Err(Failed::Closed) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    async fn read(&mut self, head_request: bool, limit: usize) -> Result<Answer, Failed> {
        let (mut from, mut more) = (0, true);
        let head = loop {
            // An idle connection's buffer is empty: nothing to parse yet.
            let parsed = match self.buf.is_empty() {
                true => None,
                false => parse_head(&self.buf)?,
            };
            match parsed {
                Some(h) => {
                    self.buf.advance(h.len);
                    from = 0;
                    match h.status.as_u16() {
                        101 => return Err(invalid("101 Switching Protocols, never asked for")),
                        100..=199 => continue,
                        _ => break h,
                    }
                }
                None if more => more = self.more_lines(&mut from, MAX_HEAD).await?,
                None => return Err(Failed::Closed),
            }
        };
        let (length, mut keep) = framing(&head, head_request, limit)?;
        let body = match length {
            Length::Empty => Bytes::new(),
            Length::Fixed(n) => {
                let n = n as usize;
                while self.buf.len() < n {
                    self.fill(n - self.buf.len()).await?;
                }
                self.buf.split_to(n).freeze()
            }
            Length::Chunked => self.chunked(limit).await?,
            Length::Close => loop {
                if self.buf.len() > limit {
                    return Err(Failed::TooLarge);
                }
                match self.fill(READ_ROOM).await {
                    Ok(()) => {}
                    Err(Failed::Closed) => break self.buf.split().freeze(),
                    Err(e) => return Err(e),
                }
            },
        };
        // Bytes after the answer: the backend is not speaking HTTP/1.1 as
        // expected; the connection carries nothing more. (Bytes that come
        // later make the idle connection fail [`H1::alive`].)
        keep &= self.buf.is_empty();
        if self.buf.capacity() > MAX_IDLE_BUF || body.len() > MAX_IDLE_BUF {
            // Not kept with the connection: a large answer's allocation
            // (the body's too, which the buffer shares).
            self.buf = BytesMut::new();
        }
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
            keep,
        })
    }

    /// A `chunked` body (RFC 9112 §7.1), its trailer fields dropped.
    async fn chunked(&mut self, limit: usize) -> Result<Bytes, Failed> {
        let mut body = BytesMut::new();
        loop {
            let (mut from, mut more) = (0, true);
            let (used, size) = loop {
                // At least one hex digit (httparse takes an empty size as 0).
                if self.buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
                    return Err(invalid("chunk size line"));
                }
                // No control character in the line but its CRLF: httparse
                // takes anything after `;` as an extension, a bare LF
                // included, which would frame the body differently from
                // a reader that ends lines at a bare LF (RFC 9112 §7.1.1).
                if let Some(lf) = self.buf.iter().position(|&b| b == b'\n') {
                    let line = &self.buf[..lf];
                    let bad = |&b: &u8| (b < 0x20 && b != b'\t') || b == 0x7f;
                    if line.last() != Some(&b'\r') || line[..lf - 1].iter().any(bad) {
                        return Err(invalid("chunk size line"));
                    }
                }
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete(c)) if c.0 <= MAX_CHUNK_LINE => break c,
                    Ok(httparse::Status::Partial) if self.buf.len() <= MAX_CHUNK_LINE => {
                        if !more {
                            return Err(Failed::Closed);
                        }
                        more = self.more_lines(&mut from, MAX_CHUNK_LINE).await?;
                    }
                    _ => return Err(invalid("chunk size line")),
                }
            };
            self.buf.advance(used);
            if size == 0 {
                break;
            }
            if size > (limit - body.len()) as u64 {
                return Err(Failed::TooLarge);
            }
            let size = size as usize;
            while self.buf.len() < size + 2 {
                self.fill(size + 2 - self.buf.len()).await?;
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(invalid("chunk data not followed by CRLF"));
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.advance(size + 2);
        }
        // The trailer section: field lines up to an empty one (a bare LF
        // ends a line too, RFC 9112 §2.2).
        let (mut seen, mut from, mut more) = (0, 0, true);
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let empty = at == 0 || (at == 1 && self.buf[0] == b'\r');
                self.buf.advance(at + 1);
                if empty {
                    return Ok(body.freeze());
                }
                seen += at + 1;
                if seen > MAX_HEAD {
                    return Err(invalid(format!("trailer longer than {MAX_HEAD} bytes")));
                }
                from = 0;
                continue;
            }
            // A line that cannot end within the limit (the `+ 1`: a lone
            // CR may start the closing empty line).
            if seen + self.buf.len() > MAX_HEAD + 1 {
                return Err(invalid(format!("trailer longer than {MAX_HEAD} bytes")));
            }
            if !more {
                return Err(Failed::Closed);
            }
            more = self.more_lines(&mut from, MAX_HEAD + 1).await?;
        }
    }
}

/// Reads one answer from `input`, delivered `step` bytes per read, to the
/// end (fuzzing: must never panic, and agree however the bytes arrive).
#[doc(hidden)]
pub fn read_answer(
    input: &[u8],
    step: usize,
    head_request: bool,
    limit: usize,
) -> Result<Answer, String> {
    let mut h = H1::new(Trickle {
        data: input,
        step: step.max(1),
    });
    let read = std::pin::pin!(h.read(head_request, limit));
    // The stream never waits: the first poll finishes.
    match read.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r.map_err(|e| format!("{e:?}")),
        Poll::Pending => Err("waited on a stream that never waits".into()),
    }
}

/// A stream that reads `data`, `step` bytes at a time, and takes any write.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Trickle<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
