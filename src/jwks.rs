//! JSON Web Key Sets: the RSA signing keys `[auth.jwt]` verifies tokens
//! with. A leaf shared by the verifier (`server::jwt`) and the load step,
//! which reads `auth.jwt.jwks_file` once before serving.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// One RSA signing key from a JWKS.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub(crate) kid: Option<String>,
    pub(crate) n: Vec<u8>,
    pub(crate) e: Vec<u8>,
}

/// Parses a JWKS (`{"keys": [...]}`), keeping RSA signature keys usable
/// with RS256 and skipping others (EC keys, encryption keys).
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<Jwk>, String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JSON Web Key Set: no \"keys\" array")?;
    let mut out = Vec::new();
    for k in keys {
        let s = |name: &str| k.get(name).and_then(Value::as_str);
        if s("kty") != Some("RSA")
            || s("use").is_some_and(|u| u != "sig")
            || s("alg").is_some_and(|a| a != "RS256")
        {
            continue;
        }
        let b = |name: &str| -> Option<Vec<u8>> {
            let raw = URL_SAFE_NO_PAD
                .decode(s(name)?.trim_end_matches('='))
                .ok()?;
            // ring wants minimal big-endian integers.
            let first = raw.iter().position(|&x| x != 0).unwrap_or(raw.len());
            Some(raw[first..].to_vec()).filter(|v| !v.is_empty())
        };
        let (Some(n), Some(e)) = (b("n"), b("e")) else {
            return Err(format!(
                "key {:?}: \"n\" and \"e\" must be base64url integers",
                s("kid").unwrap_or("")
            ));
        };
        if n.len() < 256 {
            return Err(format!(
                "key {:?}: RSA keys must have at least 2048 bits",
                s("kid").unwrap_or("")
            ));
        }
        out.push(Jwk {
            kid: s("kid").map(str::to_string),
            n,
            e,
        });
    }
    if out.is_empty() {
        return Err("no RSA signing key (kty RSA, use sig) in \"keys\"".into());
    }
    Ok(out)
}
