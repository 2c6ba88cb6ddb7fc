//! A backend request as the bridge builds it, before a transport carries
//! it: what [`super::request`] makes of a call, and what the HTTP/1.1
//! writer, the HTTP/2 path and `explain`'s recording read.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};

/// A built request: the absolute URI, the header fields in the order they
/// are sent (each name once), the body if any.
#[derive(Debug)]
pub struct OutgoingRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: Fields,
    pub body: Option<Bytes>,
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
