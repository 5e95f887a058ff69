//! `docker-compose.yml` and `Dockerfile`, checked without a Docker engine (none runs here): the
//! services and their order, pinned images, ports on 127.0.0.1 by default, and environment
//! variables that the trailscope command each service runs really reads (from its `--help`).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    serde_norway::from_str(&text).expect("docker-compose.yml is YAML")
}

/// `${VAR:-default}` → default, `${VAR}` / `${VAR:?message}` → "" (compose's interpolation as if
/// the variable were unset).
fn with_defaults(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let inner = &rest[start + 2..end];
        if let Some((_, default)) = inner.split_once(":-") {
            out.push_str(default);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A service's environment as (name, value) pairs, from the map or the list form.
fn environment(service: &Value) -> Vec<(String, Option<String>)> {
    match &service["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
            .collect(),
        Value::Array(list) => list
            .iter()
            .map(|e| {
                let e = e.as_str().expect("list entries are strings");
                match e.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (e.to_owned(), None),
                }
            })
            .collect(),
        Value::Null => Vec::new(),
        other => panic!("unexpected environment {other}"),
    }
}

fn env_value(service: &Value, name: &str) -> Option<String> {
    environment(service)
        .into_iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v)
}

fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trailscope"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trailscope {subcommand} --help failed"
    );
    String::from_utf8(out.stdout).unwrap()
}

fn condition(service: &Value, on: &str) -> String {
    service["depends_on"][on]["condition"]
        .as_str()
        .unwrap_or_else(|| panic!("no depends_on {on} with a condition: {service}"))
        .to_owned()
}

#[test]
fn services_start_in_order_with_pinned_images() {
    let c = compose();
    let services = c["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["opensearch", "dashboards", "setup", "forward"])
    );
    for (name, s) in services {
        let image = s["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no image"));
        let (_, tag) = image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{name}: image {image} has no tag"));
        assert!(
            tag.split('.').count() == 3 && tag.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{name}: image {image} is not pinned to a version"
        );
    }
    assert_eq!(
        services["opensearch"]["image"],
        "opensearchproject/opensearch:2.19.1"
    );
    assert_eq!(
        services["dashboards"]["image"],
        "opensearchproject/opensearch-dashboards:2.19.1"
    );
    for name in ["setup", "forward"] {
        assert_eq!(
            services[name]["build"], ".",
            "{name} is built from this repository"
        );
        assert_eq!(
            services[name]["image"],
            format!("trailscope:{}", env!("CARGO_PKG_VERSION")),
            "{name}: the image tag follows the crate version"
        );
    }
    // Health checks, and the order they give.
    for name in ["opensearch", "dashboards"] {
        let test = &services[name]["healthcheck"]["test"];
        assert!(
            test.as_array().is_some_and(|t| t.len() >= 2),
            "{name}: no health check"
        );
    }
    assert_eq!(
        condition(&services["dashboards"], "opensearch"),
        "service_healthy"
    );
    assert_eq!(
        condition(&services["setup"], "opensearch"),
        "service_healthy"
    );
    assert_eq!(
        condition(&services["setup"], "dashboards"),
        "service_healthy"
    );
    assert_eq!(
        condition(&services["forward"], "setup"),
        "service_completed_successfully"
    );
    assert_eq!(services["setup"]["restart"], "no", "setup is a one-shot");
    // forward's restart policy: a_configuration_error_does_not_become_a_restart_loop.
    // The URLs point at the services by name.
    let setup = &services["setup"];
    assert_eq!(
        env_value(setup, "TRAILSCOPE_OPENSEARCH_URL").as_deref(),
        Some("http://opensearch:9200")
    );
    assert_eq!(
        env_value(setup, "TRAILSCOPE_DASHBOARDS_URL").as_deref(),
        Some("http://dashboards:5601")
    );
    assert_eq!(
        env_value(&services["forward"], "TRAILSCOPE_OPENSEARCH_URL").as_deref(),
        Some("http://opensearch:9200")
    );
    assert!(
        env_value(&services["dashboards"], "OPENSEARCH_HOSTS")
            .is_some_and(|h| h.contains("http://opensearch:9200")),
        "Dashboards talks to the opensearch service"
    );
}

#[test]
fn ports_are_on_loopback_unless_asked_otherwise() {
    let c = compose();
    let mut published = 0;
    for (name, s) in c["services"].as_object().unwrap() {
        for p in s["ports"].as_array().into_iter().flatten() {
            let p = p.as_str().expect("short port syntax");
            assert!(
                with_defaults(p).starts_with("127.0.0.1:"),
                "{name}: port {p} is not bound to 127.0.0.1 by default"
            );
            published += 1;
        }
    }
    assert_eq!(
        published, 2,
        "OpenSearch and Dashboards publish one port each"
    );
}

#[test]
fn environment_variables_are_ones_the_cli_reads() {
    let c = compose();
    let services = c["services"].as_object().unwrap();
    for name in ["setup", "forward"] {
        let s = &services[name];
        let subcommand = s["command"][0].as_str().expect("a subcommand");
        assert_eq!(subcommand, name);
        let help = help(subcommand);
        let env = environment(s);
        let ours: Vec<&String> = env
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("TRAILSCOPE_") || k.as_str() == "AWS_REGION")
            .collect();
        assert!(!ours.is_empty(), "{name}: no trailscope settings");
        for var in ours {
            assert!(
                help.contains(&format!("[env: {var}=")),
                "{name}: trailscope {subcommand} does not read {var}:\n{help}"
            );
        }
    }
    let forward = &services["forward"];
    for required in [
        "TRAILSCOPE_LOG_GROUPS",
        "AWS_REGION",
        "TRAILSCOPE_DEAD_LETTER_FILE",
        "TRAILSCOPE_INDEX_PREFIX",
    ] {
        assert!(
            env_value(forward, required).is_some(),
            "forward: {required} is not set"
        );
    }
    // Unset in the shell → compose stops with the message, rather than starting a useless forwarder.
    for required in ["TRAILSCOPE_LOG_GROUPS", "AWS_REGION"] {
        assert!(
            env_value(forward, required)
                .is_some_and(|v| v.starts_with(&format!("${{{required}:?"))),
            "forward: {required} comes from the user's environment and is required"
        );
    }
    // AWS credentials: passed through from the environment, or ~/.aws mounted read-only.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        assert!(
            environment(forward)
                .iter()
                .any(|(k, v)| k == var && v.is_none()),
            "forward: {var} is passed through from the environment"
        );
    }
    let volumes: Vec<&str> = forward["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        volumes
            .iter()
            .any(|v| v.contains("/.aws:/home/nonroot/.aws") && v.ends_with(":ro")),
        "forward: ~/.aws is mounted read-only into the nonroot user's home: {volumes:?}"
    );
    // What must survive a container's replacement is on the volume.
    for var in ["TRAILSCOPE_DEAD_LETTER_FILE", "TRAILSCOPE_CHECKPOINT_FILE"] {
        let file = env_value(forward, var).unwrap_or_else(|| panic!("forward: {var} is not set"));
        assert!(
            volumes.iter().any(|v| v.starts_with("trailscope-data:")
                && v.split(':').nth(1).is_some_and(|m| file.starts_with(m))),
            "forward: {var}={file} is on the trailscope-data volume: {volumes:?}"
        );
    }
    // The GeoIP databases: optional, read-only, named by the user.
    assert!(
        volumes.iter().any(|v| v.ends_with(":/geoip:ro")),
        "{volumes:?}"
    );
    for var in ["TRAILSCOPE_GEOIP_DB", "TRAILSCOPE_ASN_DB"] {
        assert!(
            environment(forward)
                .iter()
                .any(|(k, v)| k == var && v.is_none()),
            "forward: {var} is passed through when set"
        );
    }
}

#[test]
fn opensearch_security_is_off_for_local_use_with_a_way_to_enable_it() {
    let c = compose();
    let os = &c["services"]["opensearch"];
    assert_eq!(
        env_value(os, "discovery.type").as_deref(),
        Some("single-node")
    );
    assert_eq!(
        env_value(os, "DISABLE_SECURITY_PLUGIN").as_deref(),
        Some("true")
    );
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    assert!(
        text.contains("To enable the security plugin")
            && text.contains("OPENSEARCH_INITIAL_ADMIN_PASSWORD"),
        "the compose file says how to enable security"
    );
}

#[test]
fn the_image_is_multi_stage_small_and_runs_as_non_root() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    for f in &froms {
        let image = f.split_whitespace().nth(1).unwrap();
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "{f} is not pinned"
        );
    }
    assert!(
        froms.last().unwrap().contains("distroless"),
        "the runtime stage is a small image"
    );
    let last_stage: Vec<&str> = lines
        .iter()
        .copied()
        .skip_while(|l| *l != *froms.last().unwrap())
        .collect();
    let user = last_stage
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    assert!(
        !["root", "0", "0:0"].contains(&user.trim()),
        "runs as non-root, not {user}"
    );
    let entrypoint = last_stage
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("an ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec form");
    assert!(entrypoint[0].ends_with("/trailscope"), "{entrypoint:?}");
    assert!(
        text.contains("--locked"),
        "the image builds exactly the locked dependencies"
    );
    // The build context keeps what include_str! needs and drops the rest.
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for kept in ["mappings", "dashboards", "src", "Cargo.lock"] {
        assert!(
            !ignore.lines().any(|l| l.trim_end_matches('/') == kept),
            ".dockerignore drops {kept}"
        );
    }
    assert!(ignore.lines().any(|l| l.trim_end_matches('/') == "target"));
    // The GeoIP databases are mounted at run time, never sent to the build.
    assert!(
        ignore.lines().any(|l| l.trim_end_matches('/') == "geoip"),
        ".dockerignore keeps geoip/ out of the build context"
    );
}

/// `aws configure` writes ~/.aws with mode 0600: the container's nonroot user (65532) cannot read
/// another uid's files, so forward can run as the host uid (TRAILSCOPE_UID), keeping the image's
/// group, which owns the group-writable data folder, and a HOME where ~/.aws is mounted.
#[test]
fn forward_can_read_a_private_aws_folder_and_still_write_its_state() {
    let c = compose();
    let forward = &c["services"]["forward"];
    let user = forward["user"].as_str().expect("forward sets user");
    assert!(user.contains("${TRAILSCOPE_UID:-"), "{user}");
    assert_eq!(with_defaults(user), "65532:65532", "nonroot by default");
    assert!(
        user.ends_with(":65532"),
        "the group owns the data volume: {user}"
    );
    let home = env_value(forward, "HOME").expect("forward sets HOME");
    let volumes: Vec<&str> = forward["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        volumes
            .iter()
            .any(|v| v.contains(&format!(":{home}/.aws:ro"))),
        "~/.aws is mounted into HOME ({home}): {volumes:?}"
    );
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    assert!(
        text.contains("0600") && text.contains("TRAILSCOPE_UID=$(id -u)"),
        "the compose file says when and how to run as yourself"
    );
    // The image's data folder (the volume's initial content) is writable by the group.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("chmod 0770 /out/data")
            && dockerfile.contains("--chown=65532:65532 /out/data /var/lib/trailscope"),
        "the data folder is 0770, owned by 65532:65532"
    );
}

/// A mistake (a mistyped log group exits 1 today, a setting 2, credentials 3) must not restart
/// forever (it did with `unless-stopped`); compose cannot
/// filter by exit code, so forward restarts on failure a bounded number of times, and the file
/// says which exit codes a restart can help.
#[test]
fn a_configuration_error_does_not_become_a_restart_loop() {
    let c = compose();
    let restart = c["services"]["forward"]["restart"]
        .as_str()
        .expect("forward has a restart policy");
    let retries: u32 = restart
        .strip_prefix("on-failure:")
        .unwrap_or_else(|| {
            panic!("forward restarts on failure, a bounded number of times: {restart}")
        })
        .parse()
        .expect("a number of retries");
    assert!((1..=10).contains(&retries), "{restart}");
    assert_eq!(c["services"]["setup"]["restart"].as_str(), Some("no"));
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    for code in ["exit 4", "exit 1, 2 or"] {
        assert!(text.contains(code), "the compose file explains {code}");
    }
    // The codes it names are the ones trailscope documents (README, "Exit codes").
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (code, meaning) in [
        ("2", "configuration"),
        ("3", "credentials"),
        ("4", "unreachable"),
    ] {
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with(&format!("| `{code}` |")) && l.contains(meaning)),
            "README.md documents exit code {code} as {meaning}"
        );
    }
}
