//! The deployment files in deploy/ parse and agree with the bridge: probe
//! paths, secret references, the ConfigMap's settings and mapping (which
//! must load, and must be the shipped Peripass mapping), the Dockerfile's
//! entrypoint and the systemd unit's reload.

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every document of every YAML file in deploy/k8s.
fn k8s_docs() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", f.display()));
            if !v.is_null() {
                out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    }
    out
}

fn kind<'a>(docs: &'a [(String, Value)], kind: &str) -> &'a Value {
    let hits: Vec<&Value> = docs
        .iter()
        .filter(|(_, d)| d["kind"].as_str() == Some(kind))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(hits.len(), 1, "exactly one {kind}");
    hits[0]
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

#[test]
fn kubernetes_manifests_wire_the_sidecar_correctly() {
    let docs = k8s_docs();
    let deployment = kind(&docs, "Deployment");
    let secret = kind(&docs, "Secret");
    let config_map = kind(&docs, "ConfigMap");
    let service = kind(&docs, "Service");
    let pdb = kind(&docs, "PodDisruptionBudget");

    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(3));
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);

    let containers = pod["spec"]["containers"].as_sequence().unwrap();
    assert!(containers.len() >= 2, "backend and bridge in one pod");
    let bridge = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("scim-bridge"))
        .expect("a scim-bridge container");

    // Shutdown order: the bridge keeps serving while the endpoints drop
    // the pod, then drains for server.shutdown_timeout_ms (25 s); the
    // backend outlives both, and the grace period covers them all.
    let pre_stop = |c: &Value| c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64();
    let backend = containers
        .iter()
        .find(|c| c["name"].as_str() != Some("scim-bridge"))
        .unwrap();
    let drain = scim_bridge::config::defaults::SHUTDOWN_TIMEOUT_MS / 1000;
    let (bridge_wait, backend_wait) = (pre_stop(bridge).unwrap(), pre_stop(backend).unwrap());
    assert!(bridge_wait > 0);
    assert!(
        backend_wait > bridge_wait + drain,
        "the backend outlives the drain"
    );
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(grace > backend_wait, "{grace} s grace");

    // Probes on the named port the container exposes.
    assert_eq!(s(&bridge["readinessProbe"]["httpGet"]["path"]), "/readyz");
    assert_eq!(s(&bridge["livenessProbe"]["httpGet"]["path"]), "/healthz");
    let port = &bridge["ports"][0];
    assert_eq!(port["containerPort"].as_u64(), Some(8080));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(&bridge[probe]["httpGet"]["port"], &port["name"], "{probe}");
    }
    assert_eq!(&service["spec"]["ports"][0]["targetPort"], &port["name"]);
    // The admin listener (metrics and readiness details without a token)
    // is a container port the Service does not publish.
    let admin = bridge["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("admin"))
        .expect("an admin port");
    for p in service["spec"]["ports"].as_sequence().unwrap() {
        assert_ne!(
            &p["targetPort"], &admin["name"],
            "the Service publishes the admin port"
        );
        assert_ne!(&p["targetPort"], &admin["containerPort"]);
    }
    for limit in ["requests", "limits"] {
        assert!(
            bridge["resources"][limit]["cpu"].as_str().is_some(),
            "{limit}"
        );
        assert!(
            bridge["resources"][limit]["memory"].as_str().is_some(),
            "{limit}"
        );
    }

    // Environment: listen on all interfaces; secrets from the Secret.
    let env: HashMap<&str, &Value> = bridge["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (s(&e["name"]), e))
        .collect();
    assert_eq!(
        s(&env["SCIM_BRIDGE__SERVER__LISTEN"]["value"]),
        "0.0.0.0:8080"
    );
    assert_eq!(
        s(&env["SCIM_BRIDGE__METRICS__LISTEN"]["value"]),
        format!("0.0.0.0:{}", admin["containerPort"].as_u64().unwrap())
    );
    let max: usize = s(&env["SCIM_BRIDGE__SERVER__MAX_CONNECTIONS"]["value"])
        .parse()
        .unwrap();
    assert!(max >= 64, "{max}");
    let secret_name = s(&secret["metadata"]["name"]);
    let secret_keys = secret["stringData"].as_mapping().unwrap();
    for var in ["SCIM_BRIDGE_TOKEN", "PERIPASS_API_KEY"] {
        let r = &env.get(var).unwrap_or_else(|| panic!("{var} is not set"))["valueFrom"]
            ["secretKeyRef"];
        assert_eq!(s(&r["name"]), secret_name, "{var}");
        assert!(
            secret_keys.contains_key(s(&r["key"])),
            "{var}: the Secret has no key {:?}",
            r["key"]
        );
        assert!(env[var].get("value").is_none(), "{var} must not be inline");
    }

    // Config: the whole ConfigMap as a directory (no subPath, so updates reach the pod).
    let mount = bridge["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"].as_str() == Some("/etc/scim-bridge"))
        .expect("config mounted at /etc/scim-bridge");
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts never update"
    );
    let volume = pod["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(
        &volume["configMap"]["name"],
        &config_map["metadata"]["name"]
    );

    // The example Secret is not applied by kustomize (it would overwrite the real one).
    let kustomization = kind(&docs, "Kustomization");
    let resources: Vec<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert!(!resources.iter().any(|r| r.contains("secret")));
    for r in resources {
        assert!(root().join("deploy/k8s").join(r).is_file(), "{r}");
    }
}

#[test]
fn config_map_loads_and_carries_the_shipped_mapping() {
    let docs = k8s_docs();
    let data = &kind(&docs, "ConfigMap")["data"];
    assert_eq!(
        s(&data["peripass.yaml"]),
        read("config/mappings/peripass.yaml"),
        "deploy/k8s/configmap.yaml must embed config/mappings/peripass.yaml verbatim"
    );
    // Lay the ConfigMap out as the kubelet does and load it like the bridge would.
    let dir = std::env::temp_dir().join(format!("scim-bridge-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (k, v) in data.as_mapping().unwrap() {
        std::fs::write(dir.join(s(k)), s(v)).unwrap();
    }
    let env = HashMap::from([
        (
            "SCIM_BRIDGE__SERVER__LISTEN".to_string(),
            "0.0.0.0:8080".to_string(),
        ),
        (
            "SCIM_BRIDGE_TOKEN".to_string(),
            crate::support::strong_token(),
        ),
        ("PERIPASS_API_KEY".to_string(), "k".to_string()),
    ]);
    let loaded = scim_bridge::load(&dir.join("scim-bridge.toml"), Some(env));
    let _ = std::fs::remove_dir_all(&dir);
    let (settings, plan) = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(plan.resources.len(), 2);
    assert_eq!(
        settings.backend_base_url.as_deref(),
        Some("http://127.0.0.1:8081")
    );
    // The backend caps are per process: all replicas together stay within
    // the budget the ConfigMap states (300 calls/s, 48 in flight), and one
    // pod alone still carries a whole Entra tenant's PATCHes (25/s × 2 calls).
    let replicas = kind(&docs, "Deployment")["spec"]["replicas"]
        .as_u64()
        .expect("spec.replicas");
    let caps = settings.backend_limits;
    assert_eq!(
        u64::from(caps.max_rps) * replicas,
        300,
        "{caps:?} × {replicas}"
    );
    assert_eq!(
        caps.max_concurrency as u64 * replicas,
        48,
        "{caps:?} × {replicas}"
    );
    assert!(caps.max_rps >= 50, "{caps:?}");
}

#[test]
fn dockerfile_and_systemd_unit() {
    let docker = read("deploy/Dockerfile");
    assert!(docker.contains("FROM rust:1-slim-bookworm AS build"));
    assert!(docker.contains("cargo build --release --locked"));
    assert!(docker.contains("FROM debian:bookworm-slim"));
    assert!(docker.contains("ca-certificates"));
    assert!(docker.contains("USER 10001"));
    assert!(docker.contains("EXPOSE 8080"));
    assert!(!docker.contains("HEALTHCHECK "));
    assert!(docker.contains(
        r#"ENTRYPOINT ["scim-bridge","serve","--config","/etc/scim-bridge/scim-bridge.toml"]"#
    ));
    // What the image copies is in the build context.
    let ignore = read(".dockerignore");
    for copied in ["Cargo.toml", "Cargo.lock", "src/", "config/"] {
        assert!(ignore.contains(&format!("!{copied}")), "{copied}");
        assert!(Path::new(&root().join(copied)).exists(), "{copied}");
    }
    // The image's default settings file exists where the entrypoint looks.
    assert!(root().join("config/scim-bridge.toml").is_file());

    let unit = read("deploy/systemd/scim-bridge.service");
    for line in [
        "DynamicUser=yes",
        "EnvironmentFile=/etc/scim-bridge/secrets.env",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/local/bin/scim-bridge serve --config /etc/scim-bridge/scim-bridge.toml",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    // The open-files limit fits the connection caps (one descriptor each)
    // plus the headroom the bridge warns about at start.
    let nofile: usize = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE in the unit")
        .parse()
        .unwrap();
    use scim_bridge::config::defaults::{ADMIN_MAX_CONNECTIONS, MAX_CONNECTIONS};
    assert!(
        nofile >= MAX_CONNECTIONS + ADMIN_MAX_CONNECTIONS + 128,
        "LimitNOFILE={nofile} is below server.max_connections ({MAX_CONNECTIONS}) plus headroom"
    );
    assert!(unit.lines().any(|l| l.starts_with("MemoryMax=")));
}
