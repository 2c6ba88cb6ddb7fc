//! TLS end to end: termination (versions, suites, ALPN, reload, mTLS) and
//! HTTPS towards the backend. Every certificate and key is generated here
//! (rcgen; RSA keys with the `rsa` crate, which ring cannot generate).

use crate::support::*;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- certificates

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// An issued certificate and its key, as PEM and DER.
#[derive(Clone)]
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Leaf {
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.der.clone()]
    }
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn roots(&self) -> RootCertStore {
        let mut r = RootCertStore::empty();
        r.add(self.issuer.der().clone()).unwrap();
        r
    }

    fn issue(
        &self,
        cn: &str,
        names: &[&str],
        key: KeyPair,
        purpose: ExtendedKeyUsagePurpose,
    ) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![purpose];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// ECDSA P-256 server certificate for `localhost` and 127.0.0.1.
    fn server(&self, cn: &str) -> Leaf {
        self.issue(
            cn,
            &["localhost", "127.0.0.1"],
            KeyPair::generate().unwrap(),
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// RSA-2048 server certificate for `localhost`.
    fn rsa_server(&self, cn: &str) -> Leaf {
        let key = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(rsa_pkcs8(2048)),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        self.issue(cn, &["localhost"], key, ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self, cn: &str) -> Leaf {
        self.issue(
            cn,
            &[],
            KeyPair::generate().unwrap(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }
}

/// An RSA private key (PKCS#8 DER): test keys committed under
/// tests/fixtures/keys (2048 bits, and a 1024-bit one the bridge must refuse).
fn rsa_pkcs8(bits: usize) -> Vec<u8> {
    match bits {
        2048 => include_bytes!("../fixtures/keys/tls-2048.pk8.der").to_vec(),
        1024 => include_bytes!("../fixtures/keys/tls-1024.pk8.der").to_vec(),
        _ => panic!("no {bits}-bit test key"),
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---------------------------------------------------------------- clients

static TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
static TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
static BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn client_config(
    roots: RootCertStore,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
    cert: Option<&Leaf>,
) -> ClientConfig {
    client_config_with(
        rustls::crypto::ring::default_provider(),
        roots,
        versions,
        alpn,
        cert,
    )
}

fn client_config_with(
    provider: rustls::crypto::CryptoProvider,
    roots: RootCertStore,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
    cert: Option<&Leaf>,
) -> ClientConfig {
    let b = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut c = match cert {
        Some(l) => b.with_client_auth_cert(l.chain(), l.key()).unwrap(),
        None => b.with_no_client_auth(),
    };
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    c
}

type ClientTls = tokio_rustls::client::TlsStream<TcpStream>;

async fn handshake(addr: SocketAddr, cfg: ClientConfig) -> std::io::Result<ClientTls> {
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// An authenticated GET over an established TLS stream, HTTP/2 when ALPN
/// chose `h2`, else HTTP/1.1.
async fn get_over(stream: ClientTls, path: &str) -> Result<(StatusCode, Value), String> {
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let auth = format!("Bearer {TOKEN}");
    let resp = if h2 {
        let req = Request::get(format!("https://localhost{path}"))
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| format!("{e:?}"))?;
        tokio::spawn(conn);
        send.send_request(req).await
    } else {
        let req = Request::get(path)
            .header("host", "localhost")
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{e:?}"))?;
        tokio::spawn(conn);
        send.send_request(req).await
    }
    .map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Handshake plus GET; any failure as text.
async fn get(
    addr: SocketAddr,
    cfg: ClientConfig,
    path: &str,
) -> Result<(StatusCode, Value), String> {
    let s = handshake(addr, cfg)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    get_over(s, path).await
}

const SPC: &str = "/scim/v2/ServiceProviderConfig";

// ---------------------------------------------------------------- bridges

/// A bridge serving `leaf` (written as server.crt/server.key next to the
/// settings, named by relative paths) with `tls_extra` added to `[tls]`.
async fn tls_bridge(leaf: &Leaf, tls_extra: &str, files: &[(&str, &str)]) -> Bridge {
    let settings = peripass_settings(&format!(
        "[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\n{tls_extra}\n"
    ));
    let mut all = vec![
        ("server.crt", leaf.cert_pem.as_str()),
        ("server.key", leaf.key_pem.as_str()),
    ];
    all.extend_from_slice(files);
    let env = HashMap::from([
        // No backend call is made by these tests.
        ("PERIPASS_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("PERIPASS_API_KEY".to_string(), "unused-key".to_string()),
    ]);
    Bridge::start(&settings, &all, env).await
}

async fn served_cert(addr: SocketAddr, ca: &Ca) -> std::io::Result<CertificateDer<'static>> {
    let s = handshake(addr, client_config(ca.roots(), BOTH, &[], None)).await?;
    Ok(s.get_ref().1.peer_certificates().unwrap()[0].clone())
}

// ---------------------------------------------------------------- versions, suites, ALPN

#[tokio::test]
async fn tls12_and_tls13_handshakes_succeed() {
    let ca = Ca::new("Test CA");
    let bridge = tls_bridge(&ca.server("bridge"), "", &[]).await;
    assert!(
        bridge.base.starts_with("https://localhost:"),
        "{}",
        bridge.base
    );

    let s = handshake(bridge.addr, client_config(ca.roots(), TLS12, &[], None))
        .await
        .unwrap();
    let conn = s.get_ref().1;
    assert_eq!(conn.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    // The server's order (Entra's) wins: ECDHE-ECDSA-AES128-GCM first.
    assert_eq!(
        conn.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
    let (status, body) = get_over(s, SPC).await.unwrap();
    assert_eq!(status, 200, "{body}");

    let s = handshake(bridge.addr, client_config(ca.roots(), TLS13, &[], None))
        .await
        .unwrap();
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    let (status, _) = get_over(s, SPC).await.unwrap();
    assert_eq!(status, 200);

    // meta.location uses https:// when the bridge terminates TLS.
    let (_, spc) = get(bridge.addr, client_config(ca.roots(), BOTH, &[], None), SPC)
        .await
        .unwrap();
    let loc = spc["meta"]["location"].as_str().unwrap();
    assert!(loc.starts_with("https://localhost/scim/v2/"), "{loc}");
    bridge.shutdown().await;
}

#[tokio::test]
async fn rsa_2048_certificate_serves_entra_tls12_suites() {
    let ca = Ca::new("Test CA");
    let bridge = tls_bridge(&ca.rsa_server("bridge-rsa"), "", &[]).await;
    use rustls::crypto::ring::cipher_suite as cs;
    for suite in [
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ] {
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![suite],
            ..rustls::crypto::ring::default_provider()
        };
        let s = handshake(
            bridge.addr,
            client_config_with(provider, ca.roots(), TLS12, &[], None),
        )
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", suite.suite()));
        assert_eq!(s.get_ref().1.negotiated_cipher_suite(), Some(suite));
        let (status, _) = get_over(s, SPC).await.unwrap();
        assert_eq!(status, 200);
    }
    bridge.shutdown().await;
}

#[test]
fn server_offers_only_tls12_and_tls13_with_aead_suites() {
    use scim_bridge::server::tls;
    assert_eq!(
        tls::PROTOCOL_VERSIONS
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        vec![ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
    );
    let names: Vec<String> = tls::crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect();
    for n in &names {
        assert!(
            n.contains("_GCM_") || n.contains("CHACHA20_POLY1305"),
            "{n} is not AEAD"
        );
        assert!(
            n.starts_with("TLS13_") || n.starts_with("TLS_ECDHE_"),
            "{n} lacks forward secrecy"
        );
    }
    // Entra's TLS 1.2 "minimum bar" GCM suites, in Entra's order.
    let entra = [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ];
    let tls12: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("TLS_"))
        .collect();
    assert_eq!(&tls12[..4], &entra);
    assert_eq!(tls::ALPN, [&b"h2"[..], &b"http/1.1"[..]]);
}

/// A ClientHello record, hand-built: `legacy_version`, the offered suites,
/// and the extensions a real client of that era would send.
fn client_hello(legacy_version: u16, suites: &[u16]) -> Vec<u8> {
    let mut ext = Vec::new();
    // supported_groups: x25519, secp256r1
    ext.extend([0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed
    ext.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    ext.extend([
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
    ]);
    let mut body = Vec::new();
    body.extend(legacy_version.to_be_bytes());
    body.extend([0x5a; 32]); // random
    body.push(0); // no session id
    body.extend(((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend(s.to_be_bytes());
    }
    body.extend([1, 0]); // compression: null
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut hs = vec![1u8]; // client_hello
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend((hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

/// Sends `hello` and returns the alert description the server answers with.
async fn alert_for(addr: SocketAddr, hello: &[u8]) -> u8 {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut buf = [0u8; 7];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut buf))
        .await
        .expect("no answer to the ClientHello")
        .expect("connection closed without an alert");
    assert_eq!(buf[0], 0x15, "expected an alert record, got {buf:?}");
    assert_eq!(&buf[3..5], &[0, 2], "{buf:?}");
    assert_eq!(buf[5], 2, "alert is not fatal: {buf:?}");
    buf[6]
}

const ALERT_HANDSHAKE_FAILURE: u8 = 40;
const ALERT_PROTOCOL_VERSION: u8 = 70;

#[tokio::test]
async fn tls11_and_non_aead_suites_are_refused() {
    let ca = Ca::new("Test CA");
    let bridge = tls_bridge(&ca.server("bridge"), "", &[]).await;
    // A TLS 1.1 client (CBC suites, legacy_version 1.1, no supported_versions).
    let tls11 = client_hello(0x0302, &[0xc013, 0xc009, 0x002f, 0x0035]);
    assert_eq!(alert_for(bridge.addr, &tls11).await, ALERT_PROTOCOL_VERSION);
    // A TLS 1.0 client likewise.
    let tls10 = client_hello(0x0301, &[0xc013, 0x002f]);
    assert_eq!(alert_for(bridge.addr, &tls10).await, ALERT_PROTOCOL_VERSION);
    // TLS 1.2 offering only non-AEAD suites: TLS_RSA_WITH_AES_128_CBC_SHA,
    // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256.
    let cbc = client_hello(0x0303, &[0x002f, 0xc023, 0xc027]);
    assert_eq!(alert_for(bridge.addr, &cbc).await, ALERT_HANDSHAKE_FAILURE);
    // Plain garbage, a client that never speaks, and a client that hangs up:
    // none of them takes the accept loop down.
    let mut junk = TcpStream::connect(bridge.addr).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let _silent = TcpStream::connect(bridge.addr).await.unwrap();
    drop(TcpStream::connect(bridge.addr).await.unwrap());
    let (status, _) = get(bridge.addr, client_config(ca.roots(), BOTH, &[], None), SPC)
        .await
        .unwrap();
    assert_eq!(status, 200);
    // The silent client's pending handshake does not hold shutdown up
    // (its 10 s handshake timeout is not waited for).
    let started = std::time::Instant::now();
    bridge.shutdown().await;
    // Generous, but below the 10 s handshake timeout it must not wait for.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn alpn_negotiates_h2_and_http11() {
    let ca = Ca::new("Test CA");
    let bridge = tls_bridge(&ca.server("bridge"), "", &[]).await;
    for (offer, want) in [
        (&[&b"h2"[..], &b"http/1.1"[..]][..], &b"h2"[..]),
        (&[&b"h2"[..]][..], &b"h2"[..]),
        (&[&b"http/1.1"[..]][..], &b"http/1.1"[..]),
    ] {
        for versions in [TLS12, TLS13] {
            let s = handshake(
                bridge.addr,
                client_config(ca.roots(), versions, offer, None),
            )
            .await
            .unwrap();
            assert_eq!(s.get_ref().1.alpn_protocol(), Some(want));
            let (status, body) = get_over(s, SPC).await.unwrap();
            assert_eq!(status, 200, "{body}");
        }
    }
    // A client without ALPN gets HTTP/1.1.
    let s = handshake(bridge.addr, client_config(ca.roots(), BOTH, &[], None))
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), None);
    assert_eq!(get_over(s, SPC).await.unwrap().0, 200);
    bridge.shutdown().await;
}

// ---------------------------------------------------------------- reload

async fn wait_for_cert(addr: SocketAddr, ca: &Ca, want: &CertificateDer<'_>) {
    for _ in 0..600 {
        if served_cert(addr, ca)
            .await
            .ok()
            .as_ref()
            .map(|c| c.as_ref())
            == Some(want.as_ref())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the new certificate was not picked up within 30 s");
}

/// Waits (generously) until the reloader of the bridge in `dir` has
/// rejected bad files `n` times (its log line names the file in `dir`).
async fn wait_for_rejections(tap: &LogTap, dir: &std::path::Path, n: usize) {
    let dir = dir.display().to_string();
    let started = std::time::Instant::now();
    loop {
        let seen = tap
            .text()
            .lines()
            .filter(|l| l.contains("still serving the previous one") && l.contains(&dir))
            .count();
        if seen >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the reloader did not reject the bad files ({seen} of {n})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn certificate_reload_on_file_change_keeps_old_on_bad_files() {
    let ca = Ca::new("Test CA");
    let a = ca.server("bridge-a");
    let tap = LogTap::open();
    let bridge = tls_bridge(&a, "reload_interval_ms = 100", &[]).await;
    let crt = bridge.dir().join("server.crt");
    let key = bridge.dir().join("server.key");
    assert_eq!(served_cert(bridge.addr, &ca).await.unwrap(), a.der);

    // A connection opened before the change keeps working after it.
    let old = handshake(bridge.addr, client_config(ca.roots(), BOTH, &[], None))
        .await
        .unwrap();

    let b = ca.server("bridge-b");
    std::fs::write(&crt, &b.cert_pem).unwrap();
    std::fs::write(&key, &b.key_pem).unwrap();
    wait_for_cert(bridge.addr, &ca, &b.der).await;
    assert_eq!(get_over(old, SPC).await.unwrap().0, 200);

    // Garbage in the certificate file: B keeps serving.
    std::fs::write(
        &crt,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    wait_for_rejections(&tap, bridge.dir(), 1).await;
    assert_eq!(served_cert(bridge.addr, &ca).await.unwrap(), b.der);
    // A certificate whose key is not in the key file: B keeps serving.
    let c = ca.server("bridge-c");
    std::fs::write(&crt, &c.cert_pem).unwrap();
    wait_for_rejections(&tap, bridge.dir(), 2).await;
    assert_eq!(served_cert(bridge.addr, &ca).await.unwrap(), b.der);
    let store = bridge.tls.clone().unwrap();
    let err = store.reload(true).unwrap_err();
    assert_eq!(err.key, "tls.key_file");
    assert!(err.message.contains("does not belong"), "{err}");
    assert!(err.message.contains("server.crt"), "{err}");
    // The key file disappears for a moment (as during a non-atomic rotation).
    std::fs::remove_file(&key).unwrap();
    wait_for_rejections(&tap, bridge.dir(), 3).await;
    assert_eq!(served_cert(bridge.addr, &ca).await.unwrap(), b.der);
    // Once the matching key is there, C is served.
    std::fs::write(&key, &c.key_pem).unwrap();
    wait_for_cert(bridge.addr, &ca, &c.der).await;
    let (status, _) = get(bridge.addr, client_config(ca.roots(), BOTH, &[], None), SPC)
        .await
        .unwrap();
    assert_eq!(status, 200);
    bridge.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_certificate() {
    let ca = Ca::new("Test CA");
    let a = ca.server("bridge-a");
    let tap = LogTap::open();
    // Polling off: only SIGHUP reloads.
    let bridge = tls_bridge(&a, "reload_interval_ms = 0", &[]).await;
    // A witness polling every 100 ms is given new files four times over and
    // reloads each (at least 100 ms apart, as its poll sleeps between them):
    // a bridge that polled would have reloaded meanwhile (on a loaded
    // machine both are slowed alike; no fixed sleep).
    let witness = tls_bridge(&a, "reload_interval_ms = 100", &[]).await;
    let b = ca.server("bridge-b");
    std::fs::write(bridge.dir().join("server.crt"), &b.cert_pem).unwrap();
    std::fs::write(bridge.dir().join("server.key"), &b.key_pem).unwrap();
    for round in 1..=4 {
        let w = ca.server(&format!("witness-{round}"));
        std::fs::write(witness.dir().join("server.crt"), &w.cert_pem).unwrap();
        std::fs::write(witness.dir().join("server.key"), &w.key_pem).unwrap();
        wait_for_cert(witness.addr, &ca, &w.der).await;
        wait_for_reload_lines(&tap, witness.dir(), "file change", round).await;
    }
    assert_eq!(
        served_cert(bridge.addr, &ca).await.unwrap(),
        a.der,
        "reloaded without SIGHUP"
    );
    let st = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    // The reloader says it handled the signal, and serves B from then on.
    wait_for_reload_lines(&tap, bridge.dir(), "SIGHUP", 1).await;
    assert_eq!(served_cert(bridge.addr, &ca).await.unwrap(), b.der);
    witness.shutdown().await;
    bridge.shutdown().await;
}

/// Waits (generously) for `n` "TLS certificate reloaded" lines of the bridge
/// in `dir` (its certificate path names it) with this trigger.
async fn wait_for_reload_lines(tap: &LogTap, dir: &std::path::Path, trigger: &str, n: usize) {
    let dir = dir.display().to_string();
    let trigger_field = format!("\"trigger\":\"{trigger}\"");
    let started = std::time::Instant::now();
    loop {
        let seen = tap
            .text()
            .lines()
            .filter(|l| {
                l.contains("TLS certificate reloaded")
                    && l.contains(&dir)
                    && l.contains(&trigger_field)
            })
            .count();
        if seen >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{seen} of {n} reloads by {trigger} logged for {dir}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- mTLS

#[tokio::test]
async fn mtls_rejects_clients_without_a_valid_certificate() {
    let ca = Ca::new("Server CA");
    let clients = Ca::new("Client CA");
    let other = Ca::new("Other CA");
    let bridge = tls_bridge(
        &ca.server("bridge"),
        "client_ca_file = \"clients.pem\"",
        &[("clients.pem", &clients.pem())],
    )
    .await;
    let good = clients.client("entra");
    let stranger = other.client("stranger");
    for versions in [TLS12, TLS13] {
        let none = get(
            bridge.addr,
            client_config(ca.roots(), versions, &[], None),
            SPC,
        )
        .await;
        assert!(none.is_err(), "no client certificate accepted: {none:?}");
        let bad = get(
            bridge.addr,
            client_config(ca.roots(), versions, &[], Some(&stranger)),
            SPC,
        )
        .await;
        assert!(bad.is_err(), "foreign client certificate accepted: {bad:?}");
        let (status, body) = get(
            bridge.addr,
            client_config(ca.roots(), versions, &[b"h2"], Some(&good)),
            SPC,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    bridge.shutdown().await;
}

// ---------------------------------------------------------------- settings errors

fn load_err(settings: &str, files: &[(&str, &[u8])]) -> String {
    let dir = TempDir::new();
    for (n, t) in files {
        std::fs::write(dir.0.join(n), t).unwrap();
    }
    let p = dir.0.join("settings.toml");
    std::fs::write(&p, peripass_settings(settings)).unwrap();
    let env = HashMap::from([
        (
            "PERIPASS_URL".to_string(),
            "https://localhost:1".to_string(),
        ),
        (ALLOW_WEAK_TOKENS.to_string(), "true".to_string()),
    ]);
    match scim_bridge::load(&p, Some(env)) {
        Ok(_) => panic!("settings accepted:\n{settings}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_tls_files_are_reported_with_file_key_and_path() {
    let ca = Ca::new("Test CA");
    let a = ca.server("a");
    let b = ca.server("b");
    let tls = "[tls]\ncert_file = \"s.crt\"\nkey_file = \"s.key\"\n";
    let e = load_err(tls, &[("s.key", a.key_pem.as_bytes())]);
    assert!(
        e.contains("settings.toml: tls.cert_file: ") && e.contains("s.crt: cannot read"),
        "{e}"
    );
    let e = load_err(
        tls,
        &[
            ("s.crt", a.cert_pem.as_bytes()),
            ("s.key", b.key_pem.as_bytes()),
        ],
    );
    assert!(
        e.contains("tls.key_file: ") && e.contains("does not belong"),
        "{e}"
    );
    let e = load_err(
        tls,
        &[
            ("s.crt", a.key_pem.as_bytes()),
            ("s.key", a.key_pem.as_bytes()),
        ],
    );
    assert!(
        e.contains("tls.cert_file: ") && e.contains("no certificate found"),
        "{e}"
    );
    assert!(
        !e.contains(a.key_pem.lines().nth(1).unwrap()),
        "key material in an error: {e}"
    );
    let e = load_err(
        tls,
        &[
            ("s.crt", a.cert_pem.as_bytes()),
            ("s.key", a.cert_pem.as_bytes()),
        ],
    );
    assert!(
        e.contains("tls.key_file: ") && e.contains("no unencrypted private key"),
        "{e}"
    );
    // RSA below 2048 bits is refused.
    let small = pem_block("PRIVATE KEY", &rsa_pkcs8(1024));
    let e = load_err(
        tls,
        &[
            ("s.crt", a.cert_pem.as_bytes()),
            ("s.key", small.as_bytes()),
        ],
    );
    assert!(e.contains("tls.key_file: ") && e.contains("2048"), "{e}");
    let e = load_err("[tls]\nkey_file = \"s.key\"\n", &[]);
    assert!(
        e.contains("tls.cert_file: required when [tls] is present"),
        "{e}"
    );
    let e = load_err(
        &format!("{tls}client_ca_file = \"ca.pem\"\n"),
        &[
            ("s.crt", a.cert_pem.as_bytes()),
            ("s.key", a.key_pem.as_bytes()),
            ("ca.pem", b"nothing"),
        ],
    );
    assert!(
        e.contains("tls.client_ca_file: ") && e.contains("ca.pem: no certificate found"),
        "{e}"
    );
    // [backend] TLS keys (the `extra` lands in the [backend] table).
    let e = load_err("client_cert_file = \"c.crt\"\n", &[]);
    assert!(e.contains("backend.client_key_file: required"), "{e}");
    let e = load_err("ca_file = \"missing.pem\"\n", &[]);
    assert!(
        e.contains("backend.ca_file: ") && e.contains("missing.pem: cannot read"),
        "{e}"
    );
}

// ---------------------------------------------------------------- upstream HTTPS

/// A TLS-terminating proxy in front of `target` (the example Peripass
/// backend), serving `leaf`; with `client_ca`, it requires client
/// certificates from that CA.
/// A TLS-terminating proxy in front of `target`; returns its address and
/// the number of TCP connections it has accepted so far.
async fn tls_proxy(
    target: SocketAddr,
    leaf: &Leaf,
    client_ca: Option<&Ca>,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = match client_ca {
        Some(ca) => b.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()),
                provider,
            )
            .build()
            .unwrap(),
        ),
        None => b.with_no_client_auth(),
    };
    let mut cfg = b.with_single_cert(leaf.chain(), leaf.key()).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (addr, accepted)
}

struct Upstream {
    _backend: peripass::Running,
    bridge: Bridge,
    /// TCP connections the TLS proxy in front of the backend accepted.
    proxy_connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// Peripass behind a TLS proxy, and a bridge calling it at
/// `https://{host}:PORT` with `backend_extra` in `[backend]`.
async fn upstream(
    leaf: &Leaf,
    client_ca: Option<&Ca>,
    host: &str,
    backend_extra: &str,
    files: &[(&str, &str)],
) -> Upstream {
    let opts = peripass::Options {
        seed_users: 2,
        ..Default::default()
    };
    let key = opts.api_key.clone();
    let backend = peripass::spawn(opts).await.unwrap();
    let (proxy, proxy_connections) = tls_proxy(backend.addr(), leaf, client_ca).await;
    let env = HashMap::from([
        (
            "PERIPASS_URL".to_string(),
            format!("https://{host}:{}", proxy.port()),
        ),
        ("PERIPASS_API_KEY".to_string(), key),
    ]);
    let bridge = Bridge::start(&peripass_settings(backend_extra), files, env).await;
    Upstream {
        _backend: backend,
        bridge,
        proxy_connections,
    }
}

#[tokio::test]
async fn upstream_https_with_private_ca_works() {
    let ca = Ca::new("Backend CA");
    let u = upstream(
        &ca.server("peripass"),
        None,
        "localhost",
        "ca_file = \"backend-ca.pem\"",
        &[("backend-ca.pem", &ca.pem())],
    )
    .await;
    let r = u.bridge.client.get("/Users").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["totalResults"], 2);
    u.bridge.shutdown().await;
}

fn assert_untrusted(r: &Resp, reason: &str) {
    let j = r.assert_scim_error(502, None);
    let detail = j["detail"].as_str().unwrap();
    assert!(
        detail.contains("the backend's TLS certificate was not trusted"),
        "{detail}"
    );
    assert!(detail.contains(reason), "{detail}");
    assert!(!detail.contains("peripass-demo-key"), "{detail}");
}

#[tokio::test]
async fn upstream_with_wrong_ca_gives_502_with_clear_detail() {
    let ca = Ca::new("Backend CA");
    let wrong = Ca::new("Some other CA");
    let leaf = ca.server("peripass");
    let u = upstream(
        &leaf,
        None,
        "localhost",
        "ca_file = \"backend-ca.pem\"",
        &[("backend-ca.pem", &wrong.pem())],
    )
    .await;
    let r = u.bridge.client.get("/Users").await;
    assert_untrusted(&r, "issued by a CA the bridge does not trust");
    // TLS failures are not retried (a GET is retried on connect errors and
    // 5xx): one connection reached the backend's proxy, no more.
    assert_eq!(
        u.proxy_connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "TLS failures must not be retried"
    );
    u.bridge.shutdown().await;
    // The system roots (no ca_file) do not know the private CA either.
    let u = upstream(&leaf, None, "localhost", "", &[]).await;
    assert_untrusted(&u.bridge.client.get("/Users").await, "issued by a CA");
    u.bridge.shutdown().await;
}

#[tokio::test]
async fn upstream_hostname_is_always_verified() {
    let ca = Ca::new("Backend CA");
    // Trusted CA, but the certificate names another host.
    let leaf = ca.issue(
        "elsewhere",
        &["backend.example"],
        KeyPair::generate().unwrap(),
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let u = upstream(
        &leaf,
        None,
        "localhost",
        "ca_file = \"backend-ca.pem\"",
        &[("backend-ca.pem", &ca.pem())],
    )
    .await;
    assert_untrusted(
        &u.bridge.client.get("/Users").await,
        "not valid for the backend's host name",
    );
    u.bridge.shutdown().await;
}

#[tokio::test]
async fn upstream_mtls_sends_the_configured_client_certificate() {
    let ca = Ca::new("Backend CA");
    let clients = Ca::new("Backend client CA");
    let me = clients.client("scim-bridge");
    let leaf = ca.server("peripass");
    let u = upstream(
        &leaf,
        Some(&clients),
        "localhost",
        "ca_file = \"backend-ca.pem\"\nclient_cert_file = \"me.crt\"\nclient_key_file = \"me.key\"",
        &[
            ("backend-ca.pem", &ca.pem()),
            ("me.crt", &me.cert_pem),
            ("me.key", &me.key_pem),
        ],
    )
    .await;
    let r = u.bridge.client.get("/Users").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    u.bridge.shutdown().await;
    // Without a client certificate the backend refuses the handshake.
    let u = upstream(
        &leaf,
        Some(&clients),
        "localhost",
        "ca_file = \"backend-ca.pem\"",
        &[("backend-ca.pem", &ca.pem())],
    )
    .await;
    let r = u.bridge.client.get("/Users").await;
    let j = r.assert_scim_error(502, None);
    let detail = j["detail"].as_str().unwrap();
    assert!(
        detail.contains("TLS handshake with the backend failed"),
        "{detail}"
    );
    u.bridge.shutdown().await;
}

#[test]
fn tls_settings_from_env_with_defaults_and_relative_paths() {
    let ca = Ca::new("Test CA");
    let a = ca.server("a");
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.0.join("certs")).unwrap();
    std::fs::write(dir.0.join("certs/s.crt"), &a.cert_pem).unwrap();
    std::fs::write(dir.0.join("certs/s.key"), &a.key_pem).unwrap();
    let p = dir.0.join("settings.toml");
    std::fs::write(&p, peripass_settings("")).unwrap();
    let mut env = HashMap::from([
        (
            "PERIPASS_URL".to_string(),
            "https://localhost:1".to_string(),
        ),
        (ALLOW_WEAK_TOKENS.to_string(), "true".to_string()),
    ]);
    let (s, _) = scim_bridge::load(&p, Some(env.clone())).unwrap();
    assert_eq!(s.tls, None, "no [tls]: plain HTTP");
    assert_eq!(s.backend_tls, Default::default());
    env.insert("SCIM_BRIDGE__TLS__CERT_FILE".into(), "certs/s.crt".into());
    env.insert("SCIM_BRIDGE__TLS__KEY_FILE".into(), "certs/s.key".into());
    let (s, _) = scim_bridge::load(&p, Some(env.clone())).unwrap();
    let t = s.tls.unwrap();
    assert_eq!(t.cert_file, dir.0.join("certs/s.crt"));
    assert_eq!(t.key_file, dir.0.join("certs/s.key"));
    assert_eq!(t.client_ca_file, None);
    assert_eq!(t.reload_interval, Some(Duration::from_millis(1000)));
    env.insert("SCIM_BRIDGE__TLS__RELOAD_INTERVAL_MS".into(), "0".into());
    let (s, _) = scim_bridge::load(&p, Some(env)).unwrap();
    assert_eq!(s.tls.unwrap().reload_interval, None);
}

// ---------------------------------------------------------------- connection deadlines

/// Over TLS the first-request deadline counts from the accept: a silent TCP
/// connection and a finished handshake without a request are both closed;
/// a client that asks at once is served.
#[tokio::test]
async fn tls_connections_without_a_request_are_closed_by_the_first_request_deadline() {
    use tokio::io::AsyncReadExt;
    let ca = Ca::new("Test CA");
    let bridge = tls_bridge(
        &ca.server("bridge"),
        "[server]\nfirst_request_timeout_ms = 1500",
        &[],
    )
    .await;
    let mut silent = TcpStream::connect(bridge.addr).await.unwrap();
    let mut shook = handshake(bridge.addr, client_config(ca.roots(), BOTH, &[], None))
        .await
        .expect("handshake");
    let (status, _) = get_over(
        handshake(bridge.addr, client_config(ca.roots(), BOTH, &[], None))
            .await
            .unwrap(),
        "/healthz",
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        loop {
            match shook.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a connection without a request stayed open");
}
