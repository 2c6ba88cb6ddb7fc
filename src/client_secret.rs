//! OAuth client secrets as the settings store them, and how a presented
//! secret is checked against them.
//!
//! Three forms:
//! - the secret itself (at least 16 characters; kept as its SHA-256);
//! - `sha256:<64 hex digits>`: the unsalted SHA-256 of the secret, only for
//!   long random secrets;
//! - `pbkdf2-sha256$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA256 with
//!   100 000 … 10 000 000 iterations, a salt of at least 16 bytes and a
//!   32-byte hash, salt and hash in standard base64 (RFC 4648 §4, `+` and
//!   `/`) written without `=` padding (padding is accepted). This is the form
//!   `scim-bridge hash-secret` prints.
//!
//! Error messages name what is wrong, never the value.

use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use std::num::NonZeroU32;

/// The prefix of the PBKDF2 form.
pub const PBKDF2_PREFIX: &str = "pbkdf2-sha256$";
/// Iteration bounds of the PBKDF2 form.
pub const PBKDF2_MIN_ITERATIONS: u32 = 100_000;
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;
/// What `hash-secret` uses unless told otherwise (OWASP's 2023 advice for
/// PBKDF2-HMAC-SHA256).
pub const PBKDF2_DEFAULT_ITERATIONS: u32 = 600_000;
/// Shortest salt accepted, and the length `hash-secret` makes.
pub const PBKDF2_MIN_SALT: usize = 16;
/// Shortest plain secret accepted.
pub const PLAIN_MIN_LEN: usize = 16;

const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A PBKDF2-HMAC-SHA256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Pbkdf2 {
    pub iterations: NonZeroU32,
    pub salt: Vec<u8>,
    pub hash: [u8; 32],
}

impl Pbkdf2 {
    /// Whether `secret` derives to this hash (ring's constant-time compare).
    /// Costs `iterations` HMAC rounds: call off the async workers.
    pub fn verify(&self, secret: &str) -> bool {
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            secret.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

/// A configured client secret, parsed.
#[derive(Clone, PartialEq, Eq)]
pub enum Stored {
    /// The SHA-256 of the secret (written plain or as `sha256:`).
    Sha256([u8; 32]),
    Pbkdf2(Pbkdf2),
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stored::Sha256(_) => f.write_str("Sha256(***)"),
            Stored::Pbkdf2(p) => write!(f, "Pbkdf2({} iterations, ***)", p.iterations),
        }
    }
}

/// SHA-256 of `b`.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn from_hex(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses a configured secret; the error says what is wrong without
/// repeating any of the value.
pub fn parse(s: &str) -> Result<Stored, String> {
    if let Some(h) = s.strip_prefix("sha256:") {
        return from_hex(h)
            .map(Stored::Sha256)
            .ok_or_else(|| "sha256: must be followed by 64 hex digits".into());
    }
    if let Some(rest) = s.strip_prefix(PBKDF2_PREFIX) {
        return parse_pbkdf2(rest).map(Stored::Pbkdf2);
    }
    if s.starts_with("pbkdf2") {
        return Err(format!(
            "a PBKDF2 secret must start with {PBKDF2_PREFIX:?} (make one with `scim-bridge hash-secret`)"
        ));
    }
    if s.len() < PLAIN_MIN_LEN {
        return Err(format!(
            "a client secret must be at least {PLAIN_MIN_LEN} characters"
        ));
    }
    Ok(Stored::Sha256(sha256(s.as_bytes())))
}

fn parse_pbkdf2(rest: &str) -> Result<Pbkdf2, String> {
    const SHAPE: &str = "must be pbkdf2-sha256$<iterations>$<salt base64>$<hash base64> (make one with `scim-bridge hash-secret`)";
    let parts: Vec<&str> = rest.split('$').collect();
    let [iterations, salt, hash] = parts[..] else {
        return Err(format!("a PBKDF2 secret {SHAPE}"));
    };
    let iterations: u32 = iterations.parse().map_err(|_| {
        format!("the iteration count of a PBKDF2 secret is not a number; it {SHAPE}")
    })?;
    if !(PBKDF2_MIN_ITERATIONS..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        return Err(format!(
            "the iteration count of a PBKDF2 secret must be {PBKDF2_MIN_ITERATIONS} … {PBKDF2_MAX_ITERATIONS}, got {iterations}"
        ));
    }
    let salt = B64_LENIENT
        .decode(salt)
        .map_err(|_| "the salt of a PBKDF2 secret is not standard base64".to_string())?;
    if salt.len() < PBKDF2_MIN_SALT {
        return Err(format!(
            "the salt of a PBKDF2 secret must be at least {PBKDF2_MIN_SALT} bytes, got {}",
            salt.len()
        ));
    }
    let hash = B64_LENIENT
        .decode(hash)
        .map_err(|_| "the hash of a PBKDF2 secret is not standard base64".to_string())?;
    let hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| {
        format!(
            "the hash of a PBKDF2 secret must be 32 bytes, got {}",
            hash.len()
        )
    })?;
    Ok(Pbkdf2 {
        iterations: NonZeroU32::new(iterations).expect("checked above"),
        salt,
        hash,
    })
}

/// The settings line for `secret`: PBKDF2-HMAC-SHA256 with a fresh random
/// 16-byte salt. `iterations` must be within the accepted bounds.
pub fn hash_pbkdf2(secret: &str, iterations: u32) -> Result<String, String> {
    if !(PBKDF2_MIN_ITERATIONS..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        return Err(format!(
            "iterations must be {PBKDF2_MIN_ITERATIONS} … {PBKDF2_MAX_ITERATIONS}"
        ));
    }
    let mut salt = [0u8; PBKDF2_MIN_SALT];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| "the system random generator failed".to_string())?;
    let mut hash = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(iterations).expect("checked above"),
        &salt,
        secret.as_bytes(),
        &mut hash,
    );
    Ok(format!(
        "{PBKDF2_PREFIX}{iterations}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "kdf-unit-secret-0123456789";

    #[test]
    fn hash_then_parse_verifies_only_the_secret() {
        let line = hash_pbkdf2(SECRET, PBKDF2_MIN_ITERATIONS).unwrap();
        assert!(line.starts_with("pbkdf2-sha256$100000$"));
        assert!(!line.contains(SECRET) && !line.contains('='));
        let Stored::Pbkdf2(p) = parse(&line).unwrap() else {
            panic!("not parsed as PBKDF2")
        };
        assert_eq!(p.salt.len(), 16);
        assert!(p.verify(SECRET));
        assert!(!p.verify("kdf-unit-secret-0123456788"));
        // Two hashes of one secret differ (fresh salt).
        assert_ne!(line, hash_pbkdf2(SECRET, PBKDF2_MIN_ITERATIONS).unwrap());
    }

    #[test]
    fn known_vector_from_another_implementation() {
        // Python (OpenSSL): hashlib.pbkdf2_hmac("sha256", b"password",
        // b"saltsaltsaltsalt", 100000), base64 with its padding (accepted).
        let line = "pbkdf2-sha256$100000$c2FsdHNhbHRzYWx0c2FsdA==$T78tEi/mr8Yageny/jk6s5+Qanjd3ceXdjwOeEhX6bQ=";
        let Stored::Pbkdf2(p) = parse(line).unwrap() else {
            panic!("not parsed as PBKDF2")
        };
        assert!(p.verify("password"));
        assert!(!p.verify("passwore"));
        // The same without padding.
        assert_eq!(parse(&line.replace('=', "")).unwrap(), Stored::Pbkdf2(p));
    }

    #[test]
    fn malformed_forms_are_refused_without_echoing_them() {
        let salt = STANDARD_NO_PAD.encode([7u8; 16]);
        let hash = STANDARD_NO_PAD.encode([9u8; 32]);
        let cases = [
            (
                format!("pbkdf2-sha256$99999${salt}${hash}"),
                "100000 … 10000000",
            ),
            (
                format!("pbkdf2-sha256$10000001${salt}${hash}"),
                "100000 … 10000000",
            ),
            (format!("pbkdf2-sha256$lots${salt}${hash}"), "not a number"),
            (
                format!("pbkdf2-sha256$100000${hash}"),
                "must be pbkdf2-sha256$",
            ),
            (format!("pbkdf2-sha256$100000$!!${hash}"), "salt"),
            (
                format!(
                    "pbkdf2-sha256$100000${}${hash}",
                    STANDARD_NO_PAD.encode([1u8; 8])
                ),
                "at least 16 bytes",
            ),
            (format!("pbkdf2-sha256$100000${salt}${salt}"), "32 bytes"),
            (
                format!("pbkdf2_sha256$100000${salt}${hash}"),
                "must start with",
            ),
            ("sha256:abcd".to_string(), "64 hex digits"),
            ("short".to_string(), "at least 16 characters"),
        ];
        for (value, want) in cases {
            let e = parse(&value).expect_err(&value);
            assert!(e.contains(want), "{value}: {e}");
            assert!(!e.contains(&salt) && !e.contains(&hash), "{e}");
        }
        assert!(hash_pbkdf2(SECRET, 1000).is_err());
    }
}
