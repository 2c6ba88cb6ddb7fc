//! A backend request as the bridge builds it, before a transport carries
//! it: what [`super::request`] makes of a call, and what the HTTP/1.1
//! writer, the HTTP/2 path and `explain`'s recording read.

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue, Method, Uri};

/// A built request: where it goes (origin and target: no `http::Uri` is
/// parsed for a call the HTTP/1.1 writer sends, only its target checked),
/// the header fields in the order they are sent (each name once), the body
/// if any.
#[derive(Debug)]
pub struct OutgoingRequest {
    pub method: Method,
    pub origin: Origin,
    /// The origin form: path and query, starting with `/` ([`Target`]).
    pub target: Target,
    pub headers: Fields,
    pub body: Option<Bytes>,
}

impl OutgoingRequest {
    /// The absolute URI (HTTP/2 sends it).
    pub fn uri(&self) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.origin.scheme.clone())
            .authority(self.origin.authority.clone())
            .path_and_query(self.target.as_str())
            .build()
    }

    /// The absolute URI as text.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.origin.scheme,
            self.origin.authority,
            self.target.as_str()
        )
    }
}

/// `scheme://authority`, compared as written ([`Origin::is`]).
#[derive(Debug, Clone)]
pub struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
}

impl Origin {
    /// The origin of an absolute URI.
    pub fn of(uri: &Uri) -> Option<Origin> {
        Some(Origin {
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
        })
    }

    pub fn is(&self, other: &Origin) -> bool {
        self.authority.as_str() == other.authority.as_str() && self.scheme == other.scheme
    }

    /// The `Host` header for this origin: the host, with the port only
    /// when it is not the scheme's default.
    pub fn host_header(&self) -> Option<HeaderValue> {
        crate::mapping::plan::host_header_for(
            Some(self.scheme.as_str()),
            self.authority.host(),
            self.authority.port_u16(),
        )
    }
}

/// A request target in origin form, checked as `http::Uri` checks a path
/// and query (the WHATWG URL path and query byte sets, UTF-8 and the
/// quotes and braces it takes in paths included, at most 65,534 bytes),
/// except that a `#` is refused where `http::Uri` would drop it and what
/// follows. Placeholders are percent-encoded; this catches a mapping's
/// literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(String);

impl Target {
    pub fn new(s: String) -> Result<Target, String> {
        if !s.starts_with('/') {
            return Err(format!("{s:?} does not start with \"/\""));
        }
        if s.len() > u16::MAX as usize - 1 {
            return Err(format!("longer than {} bytes", u16::MAX - 1));
        }
        // One table lookup a byte; `?` ends the path.
        let mut table = &PATH;
        let mut found = None;
        for &b in s.as_bytes() {
            match table[b as usize] {
                OK => {}
                QUERY => table = &QUERY_BYTES,
                _ => {
                    found = Some(b);
                    break;
                }
            }
        }
        match found {
            Some(b) => Err(format!(
                "byte 0x{b:02x} in the path and query (text a mapping writes there must be percent-encoded)"
            )),
            None => Ok(Target(s)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Header fields, each name once, in the order first set: a handful per
/// call, so a list (a map hashes every name, twice per field).
#[derive(Debug, Default)]
pub struct Fields(Vec<(HeaderName, HeaderValue)>);

impl Fields {
    pub fn with_capacity(n: usize) -> Fields {
        Fields(Vec::with_capacity(n))
    }

    /// Sets `name` to `value`, replacing its value if it has one.
    pub fn set(&mut self, name: HeaderName, value: HeaderValue) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.0.iter().map(|(n, v)| (n, v))
    }
}

const BAD: u8 = 0;
const OK: u8 = 1;
const QUERY: u8 = 2;

/// The bytes of a path: `?` starts the query.
static PATH: [u8; 256] = byte_table(false);
/// The bytes of a query.
static QUERY_BYTES: [u8; 256] = byte_table(true);

const fn byte_table(query: bool) -> [u8; 256] {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            0x21 | 0x24..=0x3b | 0x3d | 0x80..=0xff => OK,
            b'?' if !query => QUERY,
            0x3f..=0x7e if query => OK,
            0x40..=0x5f | 0x61..=0x7a | 0x7c | 0x7e | b'"' | b'{' | b'}' if !query => OK,
            _ => BAD,
        };
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `http::Uri` made of a target before: refused, or kept (a `#`
    /// and what follows dropped).
    fn by_http(s: &str) -> Option<String> {
        http::uri::PathAndQuery::try_from(s)
            .ok()
            .map(|p| p.as_str().to_string())
    }

    /// `Target` takes what `http::Uri` takes and keeps it whole, refusing
    /// only a `#` (which `http::Uri` dropped with what follows) and what
    /// does not start with `/` (`http::Uri` also takes `*` and `?…`, which
    /// no call makes).
    fn agrees(s: &str) -> Result<(), String> {
        match (Target::new(s.to_string()), by_http(s)) {
            (Ok(t), Some(h)) if t.as_str() == h && !s.contains('#') => Ok(()),
            (Err(_), _) if s.contains('#') || !s.starts_with('/') => Ok(()),
            (Err(_), None) => Ok(()),
            (t, h) => Err(format!("{s:?}: Target {t:?}, http {h:?}")),
        }
    }

    #[test]
    fn every_byte_in_the_path_and_the_query_is_judged_as_http_judges_it() {
        for b in 0u8..=0x7f {
            let c = b as char;
            for s in [
                format!("/a{c}b"),
                format!("/a?x={c}&y"),
                format!("/{c}?{c}"),
            ] {
                agrees(&s).unwrap();
            }
        }
        for s in [
            "/é",
            "/?q=é",
            "/a b",
            "/a\r\nHost: x",
            "/a#f",
            "/?a#f",
            "a",
            "",
            "*",
        ] {
            agrees(s).unwrap();
        }
        assert!(Target::new("/x".repeat(40_000)).is_err());
    }

    proptest! {
        #[test]
        fn targets_are_judged_as_http_judges_them(
            s in "/([a-z0-9/?=&%#\"{}<>`|^\\\\ \t\u{7f}~!$'()*+,;:@\\[\\]]|é){0,24}"
        ) {
            prop_assert_eq!(agrees(&s), Ok(()));
        }
    }
}
