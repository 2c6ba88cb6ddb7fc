//! Test harness: starts the example Peripass backend (or the Acme fixture) and
//! a bridge in front of it, both on 127.0.0.1:0, and a small HTTP client.
#![allow(dead_code)]

#[path = "../../examples/legacy_peripass/backend.rs"]
pub mod peripass;

#[path = "acme.rs"]
pub mod acme;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TOKEN: &str = "test-token-0123456789";
/// [`TOKEN`] is short and published in this repository, which `serve`
/// refuses: every test bridge asks for it explicitly with this override
/// (tests of the refusal itself set it to `false` or use [`strong_token`]).
pub const ALLOW_WEAK_TOKENS: &str = "SCIM_BRIDGE__AUTH__INSECURE_ALLOW_WEAK_TOKENS";

/// A bearer token `serve` accepts without [`ALLOW_WEAK_TOKENS`]: 43 random
/// characters made for this process (so never published), registered as a
/// secret.
pub fn strong_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let t = TOKEN
        .get_or_init(|| {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            while out.len() < 43 {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(out.len());
                let mut bits = h.finish();
                for _ in 0..8 {
                    out.push(ALPHABET[(bits % 64) as usize] as char);
                    bits /= 64;
                }
            }
            out.truncate(43);
            out
        })
        .clone();
    register_secret(&t);
    t
}
pub const ENTRA_CT: &str = "application/scim+json; charset=utf-8";

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "scim-bridge-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The one process-wide log subscriber of the test binary (TRACE, JSON).
///
/// With `SCIM_BRIDGE_TEST_LOGS=<dir>` (set by `.ci/run`) every line goes to
/// `<dir>/<binary>-<pid>.log`, so CI can grep the logs of the whole run for
/// secrets; a test may also open a [`LogTap`] to see every line logged while
/// it is open (by every test thread: filter on something of your own, e.g.
/// a request id). A process-wide subscriber because thread-local ones miss
/// events whose callsites another test thread registered first.
pub fn init_log_capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let file = std::env::var_os("SCIM_BRIDGE_TEST_LOGS").and_then(|dir| {
            let name = std::env::current_exe()
                .ok()
                .as_deref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "test".into());
            std::fs::create_dir_all(&dir).ok()?;
            let path = Path::new(&dir).join(format!("{name}-{}.log", std::process::id()));
            std::fs::File::create(path).ok()
        });
        let file = file.map(|f| Arc::new(std::sync::Mutex::new(f)));
        let sub = scim_bridge::logging::subscriber(
            scim_bridge::config::LogFormat::Json,
            "trace",
            move || Tee { file: file.clone() },
            false,
        );
        tracing_subscriber::util::SubscriberInitExt::try_init(sub)
            .expect("tests/support installs the only log subscriber");
    });
}

type Buf = Arc<std::sync::Mutex<Vec<u8>>>;

fn taps() -> &'static std::sync::Mutex<Vec<Buf>> {
    static TAPS: std::sync::OnceLock<std::sync::Mutex<Vec<Buf>>> = std::sync::OnceLock::new();
    TAPS.get_or_init(Default::default)
}

/// One log line's way out: the CI log file (if any) and every open tap.
struct Tee {
    file: Option<Arc<std::sync::Mutex<std::fs::File>>>,
}

impl std::io::Write for Tee {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &self.file {
            f.lock().unwrap().write_all(b)?;
        }
        for t in taps().lock().unwrap().iter() {
            t.lock().unwrap().extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Receives a copy of every log line (of the whole process) while alive.
pub struct LogTap(Buf);

impl LogTap {
    pub fn open() -> LogTap {
        init_log_capture();
        let buf = Buf::default();
        taps().lock().unwrap().push(buf.clone());
        LogTap(buf)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Drop for LogTap {
    fn drop(&mut self) {
        taps().lock().unwrap().retain(|t| !Arc::ptr_eq(t, &self.0));
    }
}

/// Every secret a test uses (token, API key, password, Basic credentials)
/// is appended to `<SCIM_BRIDGE_TEST_LOGS>/secrets.txt`, one per line; `.ci/run`
/// greps every log for each of them, as is, base64-encoded and URL-encoded.
pub fn register_secret(secret: &str) {
    static SEEN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    let Some(dir) = std::env::var_os("SCIM_BRIDGE_TEST_LOGS") else {
        return;
    };
    // Too short to grep for without matching everything (and not a real secret).
    if secret.len() < 4 {
        return;
    }
    let seen = SEEN.get_or_init(Default::default);
    // Held while writing: tests register from many threads, and a line must
    // never be interleaved with another.
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if !seen.insert(secret.to_string()) {
        return;
    }
    assert!(!secret.contains('\n'), "one secret per line");
    let _ = std::fs::create_dir_all(&dir);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join("secrets.txt"))
        .expect("open secrets.txt");
    // One write per line (O_APPEND): spawned processes append too.
    f.write_all(format!("{secret}\n").as_bytes())
        .expect("register a secret");
}

/// Registers the values of environment variables that hold secrets (their
/// name says KEY, PASSWORD, TOKEN or SECRET).
pub fn register_env_secrets<'a>(env: impl Iterator<Item = (&'a str, &'a str)>) {
    for (name, value) in env {
        let name = name.to_ascii_uppercase();
        // A switch about tokens, not a secret (its value is true/false).
        if name == ALLOW_WEAK_TOKENS {
            continue;
        }
        if ["KEY", "PASSWORD", "TOKEN", "SECRET"]
            .iter()
            .any(|w| name.contains(w))
        {
            register_secret(value.trim());
        }
    }
}

/// Registers a Basic credential: the password and the `user:password` pair
/// (whose base64 is what an `Authorization: Basic` header carries).
pub fn register_basic(user: &str, password: &str) {
    register_secret(password);
    register_secret(&format!("{user}:{password}"));
}

/// A running bridge.
pub struct Bridge {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT/scim/v2` (`https://localhost:PORT/scim/v2` with `[tls]`)
    pub base: String,
    /// With `[tls]`: the certificate being served (reload it, look at it).
    pub tls: Option<Arc<scim_bridge::server::tls::CertStore>>,
    pub client: TestClient,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl Bridge {
    /// Starts a bridge from settings text (TOML) and extra files written
    /// next to it (e.g. a mapping), with `env` as the environment.
    pub async fn start(
        settings: &str,
        files: &[(&str, &str)],
        env: HashMap<String, String>,
    ) -> Bridge {
        Self::start_with(settings, files, env, |_| {}).await
    }

    /// [`Bridge::start`], calling `meanwhile` with the folder between
    /// loading the files and serving (an edit that lands while the bridge
    /// starts).
    pub async fn start_with(
        settings: &str,
        files: &[(&str, &str)],
        env: HashMap<String, String>,
        meanwhile: impl FnOnce(&Path),
    ) -> Bridge {
        init_log_capture();
        register_secret(TOKEN);
        register_env_secrets(env.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let dir = TempDir::new();
        // `/readyz`'s periodic backend probe would add calls that tests
        // counting backend requests do not expect: off unless asked for.
        let mut env = env;
        env.entry(ALLOW_WEAK_TOKENS.into())
            .or_insert_with(|| "true".into());
        if !settings.contains("probe_interval_ms") {
            env.entry("SCIM_BRIDGE__BACKEND__PROBE_INTERVAL_MS".into())
                .or_insert_with(|| "0".into());
        }
        for (name, text) in files {
            std::fs::write(dir.0.join(name), text).unwrap();
        }
        let path = dir.0.join("settings.toml");
        std::fs::write(&path, settings).unwrap();
        let (settings, plan, tenants) = scim_bridge::load::load_all(&path, Some(env.clone()))
            .unwrap_or_else(|e| panic!("bridge config: {e}"));
        meanwhile(&dir.0);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls_server = settings.tls.as_ref().map(|t| {
            let server = scim_bridge::server::tls::TlsServer::new(t).unwrap();
            server.spawn_reloader();
            server
        });
        let base = match &tls_server {
            Some(_) => format!("https://localhost:{}{}", addr.port(), settings.base_path),
            None => format!("http://{addr}{}", settings.base_path),
        };
        let tls = tls_server.as_ref().map(|t| t.store().clone());
        let state = Arc::new(
            scim_bridge::AppState::new(settings, plan)
                .with_env(Some(env))
                .with_tenants(tenants),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let acceptor = tls_server.as_ref().map(|t| t.acceptor());
            scim_bridge::run_with(listener, state, acceptor, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
            drop(tls_server);
        });
        Bridge {
            addr,
            base: base.clone(),
            tls,
            client: TestClient::new(base),
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// The folder holding the settings file and the files written beside it.
    pub fn dir(&self) -> &Path {
        &self._dir.0
    }

    /// Signals shutdown without waiting; [`Bridge::shutdown`] then waits
    /// for the server to finish.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Signals shutdown and waits until the server has finished (as
    /// `serve` does before it stops the runtime), keeping the folder.
    pub async fn stop(&mut self) {
        self.signal_shutdown();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Where a spawned process's output goes: `<SCIM_BRIDGE_TEST_LOGS>/<name>-<pid>-<n>.log`
/// (so CI greps it for secrets like the test binary's own log), or a file
/// under the temp dir without it.
pub fn process_log_path(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::var_os("SCIM_BRIDGE_TEST_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("scim-bridge-test-processes"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!(
        "{name}-{}-{}.log",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Keeps a finished process's output with the logs CI checks.
pub fn save_process_output(name: &str, out: &std::process::Output) {
    let mut text = out.stdout.clone();
    text.extend_from_slice(&out.stderr);
    std::fs::write(process_log_path(name), text).unwrap();
}

/// A `scim-bridge serve` child process (the real binary), killed on drop.
/// It listens on `127.0.0.1:0` and logs at TRACE into a file under the log
/// folder; its address is read from its "listening" log line (no port is
/// picked by the test and hoped to be free).
pub struct BridgeProcess {
    child: std::process::Child,
    pub addr: SocketAddr,
    pub client: TestClient,
    pub log: PathBuf,
}

impl BridgeProcess {
    pub async fn start(settings: &Path, env: &[(&str, String)]) -> BridgeProcess {
        register_secret(TOKEN);
        register_env_secrets(env.iter().map(|(n, v)| (*n, v.as_str())));
        let log = process_log_path("scim-bridge-serve");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
        cmd.args(["serve", "--config"])
            .arg(settings)
            .args(["--listen", "127.0.0.1:0"])
            .env("SCIM_BRIDGE_LOG", "trace")
            .env("NO_COLOR", "1")
            .env("SCIM_BRIDGE__BACKEND__PROBE_INTERVAL_MS", "0")
            .env(ALLOW_WEAK_TOKENS, "true")
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start scim-bridge");
        let started = std::time::Instant::now();
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .filter(|l| l.contains("scim-bridge listening"))
                .find_map(listening_addr)
            {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("scim-bridge exited ({status}): {text}");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "scim-bridge did not start: {text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        // The "listening" line comes before the process has built its
        // state (and taken the stamps of the files it watches): a file
        // written before then would never count as changed. Once it answers
        // `/healthz` it serves, so its state exists.
        let health = TestClient::new(format!("http://{addr}"));
        let status =
            tokio::time::timeout(std::time::Duration::from_secs(60), health.get("/healthz"))
                .await
                .expect("scim-bridge did not answer /healthz within 60 s")
                .status;
        assert_eq!(status, 200, "/healthz of the started scim-bridge");
        let client = TestClient::new(format!("http://{addr}/scim/v2"));
        BridgeProcess {
            child,
            addr,
            client,
            log,
        }
    }
}

impl BridgeProcess {
    /// Sends SIGTERM (what Kubernetes sends) and waits, at most 30 s, for
    /// the process to finish its shutdown; its exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let st = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM");
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "scim-bridge did not stop within 30 s of SIGTERM"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The `127.0.0.1:PORT` in a "listening" log line (JSON or text).
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let at = line.find("127.0.0.1:")?;
    let rest = &line[at..];
    let end = rest
        .char_indices()
        .skip("127.0.0.1:".len())
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `${PERIPASS_URL}` and `${PERIPASS_API_KEY}` for a bridge in front of `b`.
pub fn peripass_env(b: &peripass::Running) -> HashMap<String, String> {
    HashMap::from([
        ("PERIPASS_URL".to_string(), b.base_url()),
        ("PERIPASS_API_KEY".to_string(), b.api_key()),
    ])
}

/// Settings for a bridge in front of the shipped Peripass mapping.
pub fn peripass_settings(extra: &str) -> String {
    peripass_settings_with_backend("", extra)
}

/// Like [`peripass_settings`], with `backend_extra` added inside the
/// `[backend]` table (e.g. `timeout_ms = 200`) and `extra` appended after it.
pub fn peripass_settings_with_backend(backend_extra: &str, extra: &str) -> String {
    format!(
        "mappings = [{:?}]\n[auth]\nbearer_tokens = [\"{TOKEN}\"]\n[backend]\nbase_url = \"${{PERIPASS_URL}}\"\n{backend_extra}\n{extra}\n",
        repo_path("config/mappings/peripass.yaml").display().to_string()
    )
}

/// The shipped Peripass mapping with `from` replaced by `to` once; fails,
/// naming `what`, when `from` is not in it (the mapping moved).
pub fn edited_peripass_mapping(from: &str, to: &str, what: &str) -> String {
    let peripass = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let mapping = peripass.replacen(from, to, 1);
    assert_ne!(mapping, peripass, "{what} moved");
    mapping
}

/// The shipped Peripass mapping with Groups stripped of their version (and
/// of the conflict rule that goes with it).
pub fn peripass_groups_without_version() -> String {
    edited_peripass_mapping(
        "      pattern: \"T-[0-9]{4,}\"\n    version:\n      field: version\n    conflict: { status: 409, code: VERSION_CONFLICT }\n",
        "      pattern: \"T-[0-9]{4,}\"\n",
        "the Group's version lines",
    )
}

/// The example Peripass backend plus a bridge using the shipped mapping.
pub struct PeripassStack {
    pub backend: peripass::Running,
    pub bridge: Bridge,
}

impl PeripassStack {
    pub async fn start(opts: peripass::Options) -> PeripassStack {
        Self::start_with(opts, "").await
    }

    /// `extra` is appended to the settings (e.g. `[scim]\nscan_limit = 10`).
    pub async fn start_with(opts: peripass::Options, extra: &str) -> PeripassStack {
        Self::start_custom(
            opts,
            StackConfig {
                extra,
                ..Default::default()
            },
        )
        .await
    }

    /// Full control over the bridge's settings and the key it sends.
    pub async fn start_custom(opts: peripass::Options, cfg: StackConfig<'_>) -> PeripassStack {
        let key = cfg
            .bridge_api_key
            .map(str::to_string)
            .unwrap_or_else(|| opts.api_key.clone());
        register_secret(&opts.api_key);
        let backend = if cfg.backend_reuse_port {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseport(true).unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            peripass::spawn_on(socket.listen(128).unwrap(), opts).await
        } else {
            peripass::spawn(opts).await
        }
        .unwrap();
        let env = HashMap::from([
            ("PERIPASS_URL".to_string(), backend.base_url()),
            ("PERIPASS_API_KEY".to_string(), key),
        ]);
        let bridge = Bridge::start(
            &peripass_settings_with_backend(cfg.backend_extra, cfg.extra),
            &[],
            env,
        )
        .await;
        PeripassStack { backend, bridge }
    }

    /// The example backend and a bridge using `mapping` (a variant of the
    /// shipped one) instead of the shipped mapping file.
    pub async fn start_with_mapping(opts: peripass::Options, mapping: &str) -> PeripassStack {
        let backend = peripass::spawn(opts).await.unwrap();
        let settings = format!(
            "mappings = [\"m.yaml\"]\n[auth]\nbearer_tokens = [\"{TOKEN}\"]\n[backend]\nbase_url = \"${{PERIPASS_URL}}\"\n"
        );
        let bridge = Bridge::start(&settings, &[("m.yaml", mapping)], peripass_env(&backend)).await;
        PeripassStack { backend, bridge }
    }

    pub fn scim(&self) -> &TestClient {
        &self.bridge.client
    }

    /// The path and query of every user list call the backend received.
    pub fn list_calls(&self) -> Vec<String> {
        self.backend
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path_and_query.starts_with("/api/v1/users?"))
            .map(|r| r.path_and_query)
            .collect()
    }

    /// A direct client of the legacy API (to verify records as the backend has them).
    pub fn legacy(&self) -> LegacyClient {
        LegacyClient {
            base: self.backend.base_url(),
            key: self.backend.api_key(),
            http: TestClient::new(String::new()).http,
        }
    }
}

/// The Acme Basic password the bridge tests use (not the fixture's default,
/// so a hard-coded password could not pass).
pub const ACME_PASSWORD: &str = "s3cret-acme-pw";
/// The Acme mapping of the tests.
pub const ACME_MAPPING: &str = include_str!("../fixtures/acme.yaml");

/// The Acme fixture plus a bridge using `tests/fixtures/acme.yaml`.
pub struct AcmeStack {
    pub backend: acme::Running,
    pub bridge: Bridge,
}

impl AcmeStack {
    pub async fn start(seed_people: usize) -> AcmeStack {
        Self::start_with_password(seed_people, ACME_PASSWORD).await
    }

    /// `bridge_password` is what the bridge is configured with (the fixture
    /// always uses [`ACME_PASSWORD`]).
    pub async fn start_with_password(seed_people: usize, bridge_password: &str) -> AcmeStack {
        Self::start_with_mapping(seed_people, bridge_password, ACME_MAPPING).await
    }

    /// The Acme fixture behind a bridge using `mapping` (a variant of
    /// [`ACME_MAPPING`]).
    pub async fn start_with_mapping(
        seed_people: usize,
        bridge_password: &str,
        mapping: &str,
    ) -> AcmeStack {
        let backend = acme::spawn(acme::Options {
            password: ACME_PASSWORD.into(),
            seed_people,
            ..Default::default()
        })
        .await
        .unwrap();
        let env = HashMap::from([
            ("ACME_URL".to_string(), backend.base_url()),
            ("ACME_PASSWORD".to_string(), bridge_password.to_string()),
        ]);
        let settings =
            format!("mappings = [\"acme.yaml\"]\n[auth]\nbearer_tokens = [\"{TOKEN}\"]\n");
        let bridge = Bridge::start(&settings, &[("acme.yaml", mapping)], env).await;
        AcmeStack { backend, bridge }
    }

    pub fn scim(&self) -> &TestClient {
        &self.bridge.client
    }

    /// The requests the fixture received with this method.
    pub fn requests(&self, method: &str) -> Vec<acme::Recorded> {
        self.backend
            .requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }
}

/// Options of [`PeripassStack::start_custom`].
#[derive(Default, Clone, Copy)]
pub struct StackConfig<'a> {
    /// Lines inside the settings' `[backend]` table (e.g. `timeout_ms = 200`).
    pub backend_extra: &'a str,
    /// Text appended to the settings (e.g. `[scim]\nscan_limit = 10`).
    pub extra: &'a str,
    /// The API key the bridge sends (default: the backend's own key).
    pub bridge_api_key: Option<&'a str>,
    /// Bind the backend with SO_REUSEPORT, so that a test stopping it can hold
    /// its address with a second, not yet listening socket (see lifecycle).
    pub backend_reuse_port: bool,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error with this status (and scimType when given).
    #[track_caller]
    pub fn assert_scim_error(&self, status: u16, scim_type: Option<&str>) -> Value {
        self.assert_scim_error_for("", status, scim_type)
    }

    /// [`Resp::assert_scim_error`] for one row of a table: `row` names it
    /// in every failure message.
    #[track_caller]
    pub fn assert_scim_error_for(&self, row: &str, status: u16, scim_type: Option<&str>) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{row} body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let j = self.json();
        assert_eq!(
            j["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{row} {j}"
        );
        assert_eq!(j["status"], status.to_string(), "{row} {j}");
        assert_eq!(j["scimType"].as_str(), scim_type, "{row} {j}");
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/scim+json"),
            "{row}"
        );
        j
    }
}

/// Minimal HTTP/1.1 client speaking to the bridge the way Entra does:
/// bearer token, `application/scim+json; charset=utf-8`, no Accept header.
#[derive(Clone)]
pub struct TestClient {
    pub base: String,
    pub token: Option<String>,
    pub http: Client<HttpConnector, Full<Bytes>>,
}

impl TestClient {
    pub fn new(base: String) -> TestClient {
        TestClient {
            base,
            token: Some(TOKEN.to_string()),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn without_token(&self) -> TestClient {
        TestClient {
            token: None,
            ..self.clone()
        }
    }

    pub fn with_token(&self, t: &str) -> TestClient {
        TestClient {
            token: Some(t.into()),
            ..self.clone()
        }
    }

    /// Sends a request; `path` is appended to the base (e.g. `/Users?filter=…`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            b = b.header("content-type", ENTRA_CT);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
            .unwrap();
        let resp = self.http.request(req).await.expect("request failed");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(&body.to_string()), &[])
            .await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PUT, path, Some(&body.to_string()), &[])
            .await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PATCH, path, Some(&body.to_string()), &[])
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }
}

/// Talks to the legacy Peripass API directly.
pub struct LegacyClient {
    pub base: String,
    pub key: String,
    pub http: Client<HttpConnector, Full<Bytes>>,
}

impl LegacyClient {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .uri(format!("{}{}", self.base, path))
            .header("x-api-key", &self.key)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = self.http.request(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Sends a JSON request to the legacy API.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header("x-api-key", &self.key);
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(Bytes::from(
                body.map(|v| v.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let resp = self.http.request(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Creates a user directly in the backend (role defaults to `Operator`); returns its id.
    pub async fn create_user(&self, body: Value) -> String {
        let mut body = body;
        if body.get("role").is_none() {
            body["role"] = Value::from("Operator");
        }
        let (s, v) = self.send(Method::POST, "/api/v1/users", Some(&body)).await;
        assert_eq!(s, StatusCode::CREATED, "legacy create: {v}");
        v["userId"].as_u64().expect("userId").to_string()
    }

    /// Reads the user, applies `change` and PUTs it back (with its version).
    pub async fn update_user(&self, id: &str, change: impl FnOnce(&mut Value)) -> Value {
        let mut u = self.user(id).await;
        change(&mut u);
        let (s, v) = self
            .send(Method::PUT, &format!("/api/v1/users/{id}"), Some(&u))
            .await;
        assert_eq!(s, StatusCode::OK, "legacy update: {v}");
        v
    }

    pub async fn user(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/api/v1/users/{id}")).await;
        assert_eq!(s, StatusCode::OK, "legacy user {id}: {v}");
        v
    }
}

/// The ids of a ListResponse's Resources, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources in {list}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Entra's PATCH envelope.
pub fn patch_ops(ops: Value) -> Value {
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// URL-encodes a filter the way Entra does (`+` for spaces).
pub fn entra_filter(f: &str) -> String {
    let mut out = String::new();
    for b in f.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The values of query parameter `name` in a recorded path and query (still
/// percent-encoded).
pub fn query_param<'a>(path_and_query: &'a str, name: &str) -> Vec<&'a str> {
    let q = path_and_query.split_once('?').map(|x| x.1).unwrap_or("");
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .collect()
}

/// Entra's POST body for a user (the typical shape of
/// `entra-scim-client.md`) plus the extras Entra may include: unmapped
/// `title`, `addresses`, `roles`, enterprise attributes, and `null`
/// attributes.
pub fn entra_user_body(user_name: &str, active: Value) -> Value {
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    serde_json::json!({
        "schemas": [CORE, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": active,
        "displayName": "John Doe",
        "title": "Gate operator",
        "nickName": null,
        "preferredLanguage": "nl-BE",
        "emails": [{"primary": true, "type": "work", "value": "john.doe@contoso.com"}],
        "phoneNumbers": [{"type": "mobile", "value": "+32 470 12 34 56"}],
        "addresses": [{"type": "work", "formatted": "Main street 1", "streetAddress": "Main street 1", "locality": "Gent", "country": "BE", "primary": true}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "John Doe", "familyName": "Doe", "givenName": "John", "middleName": null},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "42", "department": null}
    })
}

/// A PATCH of `/Users/{id}` with these operations that must answer 200 with
/// the resource: its id, and an ETag header equal to its `meta.version`.
/// `tag` names the case in failure messages. Returns the answer.
pub async fn patch_user_ok(c: &TestClient, tag: &str, id: &str, ops: Value) -> Value {
    let r = c
        .patch(&format!("/Users/{id}"), &patch_ops(ops.clone()))
        .await;
    assert_eq!(
        r.status,
        200,
        "{tag}: PATCH {ops}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["id"], id, "{tag}");
    assert_eq!(
        r.header("etag"),
        body["meta"]["version"].as_str(),
        "{tag}: ETag header equals meta.version"
    );
    body
}

// ------------------------------------------------------ raw HTTP/1.1 answers

/// A raw HTTP/1.1 answer.
pub struct RawResp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResp {
    pub fn scim_error(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "{}", self.head);
        let j: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)));
        assert_eq!(
            j["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(j["status"], status.to_string());
        j
    }
}

/// Reads one answer (headers, then `Content-Length` bytes) from `r`.
pub async fn read_response(r: &mut (impl tokio::io::AsyncReadExt + Unpin)) -> RawResp {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = r.read(&mut chunk).await.expect("read (connection reset?)");
        assert!(
            n > 0,
            "connection closed before a complete answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = r.read(&mut chunk).await.expect("read (connection reset?)");
        assert!(n > 0, "connection closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    RawResp {
        status,
        head,
        body: buf[head_end..head_end + len].to_vec(),
    }
}
