//! Percent-encoding of the values the bridge puts into backend paths and
//! query strings, and into the URLs it writes (`meta.location`, `$ref`).

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_encoded(&mut out, s);
    out
}

/// Where [`push_encoded`] appends: ASCII pieces only, so a `String` and a
/// `Vec<u8>` of JSON alike.
pub trait AsciiSink {
    fn put(&mut self, s: &str);
    /// One ASCII byte.
    fn put_byte(&mut self, b: u8);
}

impl AsciiSink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    fn put_byte(&mut self, b: u8) {
        self.push(char::from(b));
    }
}

impl AsciiSink for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }
}

/// [`encode_segment`], appended to `out`.
pub fn push_encoded<O: AsciiSink>(out: &mut O, s: &str) {
    // Runs of bytes kept as they are are copied whole; through
    // `percent_encoding`'s iterator every encoded byte was a piece of its
    // own (a path and query took about 2k instructions).
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let b = s.as_bytes();
    let mut from = 0;
    // A kept run is ASCII: it starts and ends on character boundaries
    // (`get` checks; it never fails here).
    for (i, &c) in b.iter().enumerate() {
        if KEPT[c as usize] {
            continue;
        }
        if from < i {
            out.put(s.get(from..i).unwrap_or_default());
        }
        out.put_byte(b'%');
        out.put_byte(HEX[(c >> 4) as usize]);
        out.put_byte(HEX[(c & 0xf) as usize]);
        from = i + 1;
    }
    out.put(s.get(from..).unwrap_or_default());
}

/// The bytes [`push_encoded`] keeps: ASCII letters, digits and `-._~`
/// (RFC 3986's unreserved characters).
static KEPT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        c += 1;
    }
    t
};
