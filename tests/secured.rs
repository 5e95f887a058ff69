//! trailscope against a secured OpenSearch (security plugin, demo TLS certificates, basic
//! authentication), started by `scripts/secured-node.sh up` (idempotent, safe when several test
//! binaries start it at once). Each test creates its own users and its own copies of the shipped
//! roles (`deploy/opensearch-roles/`, index pattern narrowed to the test's prefix) through the
//! security REST API, and every byte trailscope prints is searched for the passwords.

mod common;

use common::synthetic;
use common::*;
use opensearch::auth::Credentials;
use opensearch::cert::{Certificate, CertificateValidation};
use opensearch::http::headers::HeaderMap;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::Method;
use opensearch::OpenSearch;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WRITER_ROLE: &str = include_str!("../deploy/opensearch-roles/trailscope_writer.json");
const ADMIN_ROLE: &str = include_str!("../deploy/opensearch-roles/trailscope_admin.json");

struct Node {
    url: String,
    ca: PathBuf,
    admin: OpenSearch,
}

/// Starts the secured node once per test binary (the script itself takes a lock).
fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/secured-node.sh");
        let started = Instant::now();
        let up = std::process::Command::new(&script)
            .arg("up")
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "scripts/secured-node.sh up failed: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        eprintln!("secured node ready after {:?}", started.elapsed());
        let env = std::process::Command::new(&script)
            .arg("env")
            .output()
            .unwrap();
        let env = String::from_utf8(env.stdout).unwrap();
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} missing from `secured-node.sh env`"))
                .to_owned()
        };
        let url = var("TRAILSCOPE_TEST_SECURED_URL");
        let ca = PathBuf::from(var("TRAILSCOPE_TEST_SECURED_CA"));
        let password = std::fs::read_to_string(var("TRAILSCOPE_TEST_SECURED_PASSWORD_FILE"))
            .unwrap()
            .trim_end()
            .to_owned();
        let cert = Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url.parse().unwrap()))
            .auth(Credentials::Basic("admin".into(), password))
            .cert_validation(CertificateValidation::Full(cert))
            .build()
            .unwrap();
        Node {
            url,
            ca,
            admin: OpenSearch::new(transport),
        }
    })
}

impl Node {
    /// A change of the security configuration: one at a time (the plugin answers 409 to
    /// concurrent changes), retried on 409 in case another process changes it too.
    async fn security(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _guard = LOCK.lock().await;
        for _ in 0..20 {
            let (status, answer) = self.request(method, path, body.clone()).await;
            if status != 409 {
                return (status, answer);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{path}: 409 Conflict 20 times");
    }

    async fn request(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        // Fixture calls on 2 busy cores: a connection error is retried a few times.
        let mut attempt = 0;
        let r = loop {
            let sent = self
                .admin
                .send::<String, ()>(
                    method,
                    path,
                    HeaderMap::new(),
                    None,
                    body.as_ref().map(|b| b.to_string()),
                    None,
                )
                .await;
            match sent {
                Ok(r) => break r,
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    eprintln!("{method:?} {path}: {e}, retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("{method:?} {path}: {e}"),
            }
        };
        let status = r.status_code().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates role `name` from a shipped role file with its cloudtrail-* pattern replaced by
    /// `pattern`, and a user mapped to it; returns the user's password.
    async fn user_with_role(
        &self,
        user: &str,
        role_file: &str,
        role: &str,
        pattern: &str,
    ) -> String {
        let mut body: Value = serde_json::from_str(role_file).unwrap();
        for p in body["index_permissions"].as_array_mut().unwrap() {
            if p["index_patterns"] == json!(["cloudtrail-*"]) {
                p["index_patterns"] = json!([pattern]);
            }
        }
        let (status, answer) = self
            .security(
                Method::Put,
                &format!("/_plugins/_security/api/roles/{role}"),
                Some(body),
            )
            .await;
        assert!(status == 200 || status == 201, "role {role}: {answer}");
        // Recognisable, so that the output checks below find it wherever it would leak.
        let password = format!("Canary-{}-Pw9!", user.replace(['/', '_'], ""));
        let (status, answer) = self
            .security(
                Method::Put,
                &format!("/_plugins/_security/api/internalusers/{user}"),
                Some(json!({"password": password})),
            )
            .await;
        assert!(status == 200 || status == 201, "user {user}: {answer}");
        let (status, answer) = self
            .security(
                Method::Put,
                &format!("/_plugins/_security/api/rolesmapping/{role}"),
                Some(json!({"users": [user]})),
            )
            .await;
        assert!(status == 200 || status == 201, "mapping {role}: {answer}");
        password
    }

    /// A writer made before `index` was added to the shipped role: the role without that entry,
    /// limited to the cast's prefix. Returns (user, role, password).
    async fn writer_without(&self, cast: &Cast, index: &str) -> (String, String, String) {
        let mut role: Value = serde_json::from_str(WRITER_ROLE).unwrap();
        role["index_permissions"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p["index_patterns"] != json!([index]));
        let (user, role_name) = (
            format!("old{}", cast.writer_user),
            format!("old{}", cast.roles[0]),
        );
        let password = self
            .user_with_role(
                &user,
                &role.to_string(),
                &role_name,
                &format!("{}*", cast.prefix),
            )
            .await;
        (user, role_name, password)
    }

    async fn count(&self, prefix: &str) -> u64 {
        self.request(Method::Post, &format!("/{prefix}*/_refresh"), None)
            .await;
        let (status, body) = self
            .request(Method::Get, &format!("/{prefix}*/_count"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["count"].as_u64().unwrap()
    }

    async fn cleanup(&self, prefix: &str, users: &[&str], roles: &[&str]) {
        self.request(Method::Delete, &format!("/{prefix}*"), None)
            .await;
        let template = format!("trailscope-{}", prefix.trim_end_matches('-'));
        self.request(
            Method::Delete,
            &format!("/_index_template/{template}"),
            None,
        )
        .await;
        for u in users {
            let path = format!("/_plugins/_security/api/internalusers/{u}");
            self.security(Method::Delete, &path, None).await;
        }
        for r in roles {
            let path = format!("/_plugins/_security/api/rolesmapping/{r}");
            self.security(Method::Delete, &path, None).await;
            let path = format!("/_plugins/_security/api/roles/{r}");
            self.security(Method::Delete, &path, None).await;
        }
    }
}

/// A test's cast: an admin user with trailscope_admin and a writer with trailscope_writer,
/// both limited to `<prefix>*` (or `writer_pattern`).
struct Cast {
    prefix: String,
    admin_user: String,
    admin_password: String,
    writer_user: String,
    writer_password: String,
    /// `base64(user:password)` of both users: what an `Authorization: Basic` header carries, as
    /// telling as the password itself.
    basic_auth: [String; 2],
    roles: [String; 2],
}

impl Cast {
    async fn new(name: &str, writer_pattern: Option<&str>) -> Cast {
        let node = node();
        let id = unique(name).replace('-', "_");
        let prefix = format!("{}-", unique(&format!("t-sec-{name}")));
        let pattern = format!("{prefix}*");
        let roles = [format!("tw_{id}"), format!("ta_{id}")];
        let admin_user = format!("admin_{id}");
        let writer_user = format!("writer_{id}");
        let writer_password = node
            .user_with_role(
                &writer_user,
                WRITER_ROLE,
                &roles[0],
                writer_pattern.unwrap_or(&pattern),
            )
            .await;
        let admin_password = node
            .user_with_role(&admin_user, ADMIN_ROLE, &roles[1], &pattern)
            .await;
        use base64::Engine as _;
        let basic = |user: &str, password: &str| {
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        };
        Cast {
            basic_auth: [
                basic(&admin_user, &admin_password),
                basic(&writer_user, &writer_password),
            ],
            prefix,
            admin_user,
            admin_password,
            writer_user,
            writer_password,
            roles,
        }
    }

    /// What must never be printed: both passwords, and both as an Authorization header holds them.
    fn passwords(&self) -> Vec<&str> {
        vec![
            &self.admin_password,
            &self.writer_password,
            &self.basic_auth[0],
            &self.basic_auth[1],
        ]
    }

    async fn cleanup(&self) {
        node()
            .cleanup(
                &self.prefix,
                &[&self.admin_user, &self.writer_user],
                &[&self.roles[0], &self.roles[1]],
            )
            .await;
    }
}

/// Runs trailscope with the most verbose logs and `password` in TRAILSCOPE_OPENSEARCH_PASSWORD
/// (when given), and asserts that no byte it printed holds any of `secrets`.
fn run(args: &[&str], password: Option<&str>, secrets: &[&str]) -> Output {
    let mut cmd = trailscope_cmd(args);
    // Findings and the lineage index on: the shipped writer role must cover their searches
    // and their indices.
    cmd.env_remove("TRAILSCOPE_NO_FINDINGS");
    cmd.env_remove("TRAILSCOPE_NO_LINEAGE");
    cmd.env("TRAILSCOPE_LOG", "trace");
    cmd.env_remove("TRAILSCOPE_OPENSEARCH_PASSWORD");
    if let Some(p) = password {
        cmd.env("TRAILSCOPE_OPENSEARCH_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    assert_no_secret(&out.stdout, secrets, args);
    assert_no_secret(&out.stderr, secrets, args);
    out
}

fn assert_no_secret(bytes: &[u8], secrets: &[&str], args: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(
            !found,
            "trailscope {args:?} printed a password ({} bytes of output)",
            bytes.len()
        );
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn password_file(dir: &Path, password: &str) -> PathBuf {
    let path = dir.join("password");
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_sets_up_then_the_writer_forwards_every_event() {
    let node = node();
    let cast = Cast::new("fwd", None).await;
    let stack = Stack::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = node.ca.to_str().unwrap();

    // setup as the admin user, password from a file.
    let file = password_file(dir.path(), &cast.admin_password);
    let out = run(
        &[
            "setup",
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.admin_user,
            "--opensearch-password-file",
            file.to_str().unwrap(),
            "--index-prefix",
            &cast.prefix,
        ],
        None,
        &cast.passwords(),
    );
    let stdout = ok(out);
    assert!(stdout.contains("installed"), "{stdout}");
    // No ISM plugin on this node: setup says so and points at `trailscope retention`.
    assert!(
        stdout.contains("no Index State Management plugin")
            && stdout.contains("trailscope retention --keep 90d"),
        "{stdout}"
    );

    // forward --once as the writer, password from the environment.
    let group = format!("/test/{}", unique("secured"));
    let start = chrono::Utc::now() - chrono::Duration::hours(3);
    let events = synthetic::events(0x5ec, 300, start, 1_000);
    stack.put_events(&group, 2, &events).await;
    let dead = dir.path().join("dead.ndjson");
    // forward --once of the group as the writer (password from the environment), then `extra`.
    let writer_forward = |extra: &[&str]| {
        let args = forward_args(&group, &cast.prefix, &dead, &[]);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The secured node instead of the plain one.
        let url = args.iter().position(|a| *a == "--opensearch-url").unwrap() + 1;
        args[url] = &node.url;
        args.extend_from_slice(&["--ca-cert", ca, "--opensearch-username", &cast.writer_user]);
        // The events (3 h old) are judged: their identities' history is searched.
        args.extend_from_slice(&["--findings-from", "1d"]);
        args.extend_from_slice(extra);
        let out = run(&args, Some(&cast.writer_password), &cast.passwords());
        let err = stderr(&out);
        assert!(
            !err.contains("cannot read how many shards"),
            "the shipped writer role lets the shard budget read the cluster: {err}"
        );
        summary(&ok(out))
    };
    let first = writer_forward(&[]);
    assert_eq!(first["indexed"], 300, "{first}");
    assert_eq!(first["dead_lettered"], 0, "{first}");
    assert_eq!(node.count(&cast.prefix).await, 300);
    assert!(!dead.exists());

    // The shipped writer role also covers the checkpoint kept in OpenSearch (.trailscope-state):
    // a first run under a new job re-reads the group (OpenSearch keeps one copy), a second run
    // resumes from the index.
    let job = unique("secured-job");
    let with_index = ["--checkpoint-index", "--checkpoint-job", &job];
    std::fs::remove_file(dir.path().join("checkpoint.json")).unwrap();
    let again = writer_forward(&with_index);
    assert_eq!(again["read"], 300, "{again}");
    assert_eq!(again["duplicates"], 300, "{again}");
    let resumed = writer_forward(&with_index);
    assert_eq!(resumed["read"], 0, "{resumed}");
    assert!(
        !dir.path().join("checkpoint.json").exists(),
        "no checkpoint file with --checkpoint-index"
    );

    // The writer may not change the template: setup as the writer fails, naming the permission,
    // with the exit code of refused permissions.
    let out = run(
        &[
            "setup",
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.writer_user,
            "--index-prefix",
            &format!("{}x-", cast.prefix),
        ],
        Some(&cast.writer_password),
        &cast.passwords(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("denied installing index template")
            && err.contains("no permissions for [indices:admin/index_template/put]")
            && err.contains("--print-roles"),
        "{err}"
    );

    // retention: the admin role is enough (dry run: the events are 3 hours old, nothing to
    // delete), the writer's is not.
    for (user, password, code) in [
        (&cast.admin_user, &cast.admin_password, 0),
        (&cast.writer_user, &cast.writer_password, 3),
    ] {
        let out = run(
            &[
                "retention",
                "--keep",
                "1d",
                "--dry-run",
                "--opensearch-url",
                &node.url,
                "--ca-cert",
                ca,
                "--opensearch-username",
                user,
                "--index-prefix",
                &cast.prefix,
            ],
            Some(password),
            &cast.passwords(),
        );
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(code), "{user}: {text}");
        if code == 0 {
            assert!(text.contains("0 would be deleted"), "{text}");
        } else {
            assert!(text.contains("denied listing the indices"), "{text}");
        }
    }
    cast.cleanup().await;
}

/// One record per `(log timestamp, eventTime)`, ids `<tag>-<i>`.
fn records(tag: &str, times: &[chrono::DateTime<chrono::Utc>]) -> Vec<(i64, String)> {
    let now = chrono::Utc::now() - chrono::Duration::minutes(30);
    times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut r = synthetic::record(0x403, i, *t);
            r["eventID"] = json!(format!("{tag}-{i}"));
            (now.timestamp_millis() + i as i64, r.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_outside_the_writers_indices_is_dead_lettered_and_the_rest_indexed() {
    let node = node();
    // The writer may write January 10–19 only: its role's pattern is <prefix>2026.01.1*.
    let probe = format!("{}-", unique("t-sec-403"));
    let cast = Cast::new("403", Some(&format!("{probe}2026.01.1*"))).await;
    let cast = Cast {
        prefix: probe,
        ..cast
    };
    let stack = Stack::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = node.ca.to_str().unwrap();
    // The admin's role covers t-sec-403-*-… of the original prefix, not this one: install the
    // template with the node's admin instead.
    let (status, body) = node
        .request(
            Method::Put,
            &format!(
                "/_index_template/trailscope-{}",
                cast.prefix.trim_end_matches('-')
            ),
            Some({
                let mut t: Value =
                    serde_json::from_str(include_str!("../mappings/index-template.json")).unwrap();
                t["index_patterns"] = json!([format!("{}*", cast.prefix)]);
                t
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let day = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 1, d)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
    };
    // 2026.01.20 is outside the pattern, between allowed days in the same batch.
    let times = [day(10), day(11), day(20), day(12), day(13)];
    let group = format!("/test/{}", unique("secured-403"));
    stack.put_events(&group, 1, &records("ev403", &times)).await;
    let dead = dir.path().join("dead.ndjson");
    let checkpoint = dir.path().join("checkpoint.json");
    let cw = cloudwatch_url();
    let started = Instant::now();
    let out = run(
        &[
            "forward",
            "--once",
            "--log-group",
            &group,
            "--endpoint-url",
            &cw,
            "--checkpoint-file",
            checkpoint.to_str().unwrap(),
            "--dead-letter-file",
            dead.to_str().unwrap(),
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.writer_user,
            "--index-prefix",
            &cast.prefix,
            "--retry-give-up-secs",
            "600",
        ],
        Some(&cast.writer_password),
        &cast.passwords(),
    );
    let elapsed = started.elapsed();
    let stdout = ok(out);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], 4, "{summary}");
    assert_eq!(summary["dead_lettered"], 1, "{summary}");
    // Not retried: one bulk request, no backoff.
    assert_eq!(summary["bulk_requests"], 1, "{summary}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert_eq!(node.count(&cast.prefix).await, 4);
    let lines: Vec<Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], "ev403-2", "{}", lines[0]);
    assert_eq!(
        lines[0]["index"],
        format!("{}2026.01.20", cast.prefix),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0]["error_type"], "security_exception", "{}", lines[0]);
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("no permissions"),
        "{}",
        lines[0]
    );
    let dead_bytes = std::fs::read(&dead).unwrap();
    assert_no_secret(&dead_bytes, &cast.passwords(), &["dead letters"]);
    cast.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_fails_at_once_with_the_auth_exit_code() {
    let node = node();
    let cast = Cast::new("badpw", None).await;
    let ca = node.ca.to_str().unwrap();
    let wrong = format!("{}-but-wrong", cast.writer_password);
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = cast.passwords();
    secrets.push(&wrong);
    for command in ["forward", "setup"] {
        let mut args = vec![
            command,
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.writer_user,
            "--index-prefix",
            &cast.prefix,
        ];
        let checkpoint = dir.path().join("checkpoint.json");
        if command == "forward" {
            args.extend([
                "--once",
                "--log-group",
                "/test/never-read",
                "--checkpoint-file",
                checkpoint.to_str().unwrap(),
            ]);
        }
        let started = Instant::now();
        let out = run(&args, Some(&wrong), &secrets);
        let elapsed = started.elapsed();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{command}: {err}");
        assert!(
            err.contains(&format!(
                "OpenSearch at {}/ refused the credentials (HTTP 401): check the user name and password",
                node.url
            )),
            "{command}: {err}"
        );
        assert!(elapsed < Duration::from_secs(10), "{command}: {elapsed:?}");
        assert!(!err.contains("retrying"), "{command}: {err}");
    }
    cast.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_verified_unless_told_otherwise() {
    let node = node();
    let cast = Cast::new("tls", None).await;
    let ca = node.ca.to_str().unwrap();
    let base = [
        "setup",
        "--opensearch-url",
        &node.url,
        "--opensearch-username",
        &cast.admin_user,
        "--index-prefix",
        &cast.prefix,
    ];
    let pw = Some(cast.admin_password.as_str());
    let secrets = cast.passwords();

    // An unknown CA (the demo root CA is not in the system store).
    let out = run(&base, pw, &secrets);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("TLS connection to {}/ failed", node.url))
            && err.contains("UnknownIssuer")
            && err.contains("pass it with --ca-cert FILE.pem"),
        "{err}"
    );

    // Trusting the cluster's CA: certificate and hostname (localhost) are verified.
    let mut args = base.to_vec();
    args.extend(["--ca-cert", ca]);
    let out = run(&args, pw, &secrets);
    let err = stderr(&out);
    ok(out);
    assert!(!err.contains("insecure"), "{err}");

    // Verification off: it works, and says loudly that it is off.
    let mut args = base.to_vec();
    args.push("--insecure-skip-tls-verify");
    let out = run(&args, pw, &secrets);
    let err = stderr(&out);
    ok(out);
    assert!(
        err.contains("WARN")
            && err.contains(
                "--insecure-skip-tls-verify: the certificate of OpenSearch is NOT verified"
            ),
        "{err}"
    );
    cast.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_file_is_read_and_never_quoted() {
    let node = node();
    let cast = Cast::new("pwfile", None).await;
    let ca = node.ca.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = password_file(dir.path(), &cast.admin_password);
    let args = |file: &str| -> Vec<String> {
        [
            "setup",
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.admin_user,
            "--opensearch-password-file",
            file,
            "--index-prefix",
            &cast.prefix,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let secrets = cast.passwords();
    // Both the environment and a file: refused, one way only.
    let a = args(file.to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = run(&a, Some(&cast.writer_password), &secrets);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("TRAILSCOPE_OPENSEARCH_PASSWORD is set too"),
        "{err}"
    );
    // A missing file names the file.
    let missing = dir.path().join("missing");
    let a = args(missing.to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = run(&a, None, &secrets);
    let err = stderr(&out);
    assert!(
        err.contains("cannot read the password file (--opensearch-password-file)")
            && err.contains(missing.to_str().unwrap()),
        "{err}"
    );
    // The file alone works.
    let a = args(file.to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    ok(run(&a, None, &secrets));
    cast.cleanup().await;
}

#[test]
fn print_roles_prints_the_shipped_roles_without_a_cluster() {
    let out = trailscope_cmd(&["setup", "--print-roles"])
        .env_remove("TRAILSCOPE_OPENSEARCH_URL")
        .output()
        .unwrap();
    let stdout = ok(out);
    // The same with a URL in the environment (as in a configured shell): still printed, still
    // nothing contacted (nothing listens on port 9).
    let with_env = trailscope_cmd(&["setup", "--print-roles"])
        .env("TRAILSCOPE_OPENSEARCH_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(ok(with_env), stdout);
    // Without --print-roles the URL is still required.
    let out = trailscope_cmd(&["setup"])
        .env_remove("TRAILSCOPE_OPENSEARCH_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--opensearch-url"),
        "{}",
        stderr(&out)
    );
    for (name, file) in [
        ("trailscope_writer", WRITER_ROLE),
        ("trailscope_admin", ADMIN_ROLE),
    ] {
        assert!(
            stdout.contains(&format!("/_plugins/_security/api/roles/{name}")),
            "{stdout}"
        );
        assert!(stdout.contains(file.trim_end()), "{name} body missing");
    }
}

#[test]
fn the_writer_role_grants_only_what_forward_calls() {
    let writer: Value = serde_json::from_str(WRITER_ROLE).unwrap();
    let cluster: Vec<&str> = writer["cluster_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // GET / (ping), GET _cluster/health and _cluster/settings (the shard budget, before a new
    // daily index), GET _index_template/<name> (template check at start), POST _bulk, and the
    // findings' POST _msearch (when did an identity first do this?), and the lineage index's
    // POST _mget (who minted this key?).
    assert_eq!(
        cluster,
        [
            "cluster:monitor/main",
            "cluster:monitor/health",
            "cluster:monitor/state",
            "indices:admin/index_template/get",
            "indices:data/write/bulk",
            "indices:data/read/msearch",
            "indices:data/read/mget"
        ]
    );
    let index = writer["index_permissions"].as_array().unwrap();
    assert_eq!(index.len(), 5);
    assert_eq!(index[0]["index_patterns"], json!(["cloudtrail-*"]));
    // forward --checkpoint-index: create the state index, GET and PUT its documents, _count
    // (/readyz). Reading is allowed there and nowhere else.
    assert_eq!(index[1]["index_patterns"], json!([".trailscope-state"]));
    assert_eq!(
        index[1]["allowed_actions"],
        json!([
            "indices:admin/create",
            "indices:data/write/index",
            // A single-document write runs as a one-item bulk on the shard.
            "indices:data/write/bulk[s]",
            "indices:data/read/get",
            "indices:data/read/search"
        ])
    );
    // The findings index: created with its mapping by the first run, findings written with
    // `create`; HEAD tells whether it exists. Nothing read there.
    assert_eq!(index[2]["index_patterns"], json!(["trailscope-findings"]));
    assert_eq!(
        index[2]["allowed_actions"],
        json!([
            "indices:admin/get",
            "indices:admin/create",
            "indices:admin/mapping/put",
            "indices:data/write/index",
            "indices:data/write/bulk[s]"
        ])
    );
    // The registered policies (`trailscope policy set`): searched by the findings for
    // not_granted, at start and every minute. Never written by the writer.
    assert_eq!(index[3]["index_patterns"], json!(["trailscope-policies"]));
    assert_eq!(
        index[3]["allowed_actions"],
        json!(["indices:data/read/search"])
    );
    // The lineage index: created with its mapping by the first run, minted credentials written
    // with `create`, read back by id only (`_mget`).
    assert_eq!(index[4]["index_patterns"], json!(["trailscope-lineage"]));
    assert_eq!(
        index[4]["allowed_actions"],
        json!([
            "indices:admin/get",
            "indices:admin/create",
            "indices:admin/mapping/put",
            "indices:data/write/index",
            "indices:data/write/bulk[s]",
            // Checked on the shards (measured: without it the plugin refuses
            // `indices:data/read/mget[shard]`; the index-level `mget` is not needed).
            "indices:data/read/mget[shard]"
        ])
    );
    // The events: written, and searched by the findings (the only reads); never deleted.
    let events: Vec<&str> = index[0]["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for action in &events {
        assert!(
            !action.contains('*') || *action == "indices:data/write/bulk[s]",
            "no wildcard grant in the writer role: {action}"
        );
        assert!(!action.contains("delete"), "{action}");
    }
    let reads: Vec<&&str> = events.iter().filter(|a| a.contains("read")).collect();
    assert_eq!(
        reads,
        [&"indices:data/read/search", &"indices:data/read/msearch"]
    );
}

/// The password in JSON logs and in `config check`: every case again with `--log-format json`,
/// and the effective configuration, each searched for the passwords.
#[tokio::test(flavor = "multi_thread")]
async fn the_password_never_shows_in_json_logs_or_config_check() {
    let node = node();
    let cast = Cast::new("json", None).await;
    let ca = node.ca.to_str().unwrap();
    let wrong = format!("{}-but-wrong", cast.admin_password);
    let mut secrets = cast.passwords();
    secrets.push(&wrong);
    let dir = tempfile::tempdir().unwrap();
    let file = password_file(dir.path(), &cast.admin_password);
    let setup = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "--log-format",
            "json",
            "setup",
            "--opensearch-url",
            &node.url,
            "--opensearch-username",
            &cast.admin_user,
            "--index-prefix",
            &cast.prefix,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let with_ca = |mut a: Vec<String>| {
        a.extend(["--ca-cert".to_string(), ca.to_string()]);
        a
    };
    let cases: Vec<(Vec<String>, Option<&str>, i32)> = vec![
        (with_ca(setup(&[])), Some(&cast.admin_password), 0),
        (with_ca(setup(&[])), Some(&wrong), 3),
        (setup(&[]), Some(&cast.admin_password), 1),
        (
            setup(&["--insecure-skip-tls-verify"]),
            Some(&cast.admin_password),
            0,
        ),
    ];
    for (args, password, code) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&a, password, &secrets);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{a:?}: {err}");
        // JSON indeed: every stderr line is an object.
        for line in err.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "not JSON: {line}"
            );
        }
    }
    // config check with the password from the environment, then from the file.
    let mut check: Vec<String> = vec!["config".into(), "check".into()];
    check.extend(with_ca(setup(&[])).into_iter().skip(2));
    let a: Vec<&str> = check.iter().map(String::as_str).collect();
    let out = run(&a, Some(&cast.admin_password), &secrets);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&cast.admin_user), "{text}");
    check.extend([
        "--opensearch-password-file".to_string(),
        file.to_str().unwrap().to_string(),
    ]);
    let a: Vec<&str> = check.iter().map(String::as_str).collect();
    let out = run(&a, None, &secrets);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains(file.to_str().unwrap()), "{text}");
    cast.cleanup().await;
}

/// A writer whose role lacks what the findings need (a role made before them) fails at start, in
/// seconds, with the exit code of refused permissions and a sentence naming both fixes; with
/// `--no-findings` the same user forwards.
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_without_the_findings_grants_is_told_the_fix() {
    let node = node();
    let cast = Cast::new("nofind", None).await;
    let ca = node.ca.to_str().unwrap();
    let out = run(
        &[
            "setup",
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.admin_user,
            "--index-prefix",
            &cast.prefix,
        ],
        Some(&cast.admin_password),
        &cast.passwords(),
    );
    ok(out);
    let (user, role_name, password) = node.writer_without(&cast, "trailscope-findings").await;
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("nofind"));
    let events = synthetic::events(
        0x0f1d,
        20,
        chrono::Utc::now() - chrono::Duration::hours(2),
        1_000,
    );
    stack.put_events(&group, 1, &events).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let forward = |extra: &[&str]| {
        let args = forward_args(&group, &cast.prefix, &dead, &[]);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        let url = args.iter().position(|a| *a == "--opensearch-url").unwrap() + 1;
        args[url] = &node.url;
        args.extend_from_slice(&["--ca-cert", ca, "--opensearch-username", &user]);
        args.extend_from_slice(extra);
        let mut secrets = cast.passwords();
        secrets.push(&password);
        let started = std::time::Instant::now();
        let out = run(&args, Some(&password), &secrets);
        (out, started.elapsed())
    };
    let (out, took) = forward(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    assert!(
        err.contains("lacks a permission the findings need")
            && err.contains("trailscope_writer")
            && err.contains("--no-findings"),
        "{err}"
    );
    assert!(!err.contains("Forbidden {"), "no Rust debug output: {err}");
    let (out, _) = forward(&["--no-findings"]);
    assert_eq!(summary(&ok(out))["indexed"], 20);
    node.cleanup(&cast.prefix, &[&user], &[&role_name]).await;
    cast.cleanup().await;
}

/// The shipped writer role covers the lineage index: a first run writes the minted credentials
/// (`_bulk` of `create`s into trailscope-lineage), a second run, whose findings need the root of
/// a session minted in the first, reads them back by id (`_mget`), with no permission refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_writer_role_covers_the_lineage_index_and_its_reads() {
    let node = node();
    let cast = Cast::new("lineage", None).await;
    let ca = node.ca.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    ok(run(
        &[
            "setup",
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &cast.admin_user,
            "--index-prefix",
            &cast.prefix,
        ],
        Some(&cast.admin_password),
        &cast.passwords(),
    ));
    // Keys and role of this run alone: the lineage and findings indices outlive the test.
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    let (akia, asia1, asia2) = (
        format!("AKIASEC{tag:012}"),
        format!("ASIASEC1{tag:012}"),
        format!("ASIASEC2{tag:012}"),
    );
    let role = format!("arn:aws:iam::222233334444:role/sec{tag}");
    let session = format!("arn:aws:sts::222233334444:assumed-role/sec{tag}/s");
    let record = |n: u32, time: &str, who: Value, name: &str, response: Value| {
        json!({"eventVersion": "1.09", "eventTime": time, "eventSource": "sts.amazonaws.com",
            "eventName": name, "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.7",
            "userIdentity": who, "responseElements": response,
            "eventID": format!("5ec11e1a-{tag:012}-4000-8000-{n:012x}")})
    };
    let user = |key: &str| {
        json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/sec",
            "accountId": "111122223333", "accessKeyId": key})
    };
    let minting = [
        record(
            1,
            "2026-01-10T08:00:00Z",
            user(&akia),
            "GetSessionToken",
            json!({"credentials": {"accessKeyId": asia1}}),
        ),
        record(
            2,
            "2026-01-10T08:01:00Z",
            user(&asia1),
            "AssumeRole",
            json!({"credentials": {"accessKeyId": asia2}, "assumedRoleUser": {"arn": session}}),
        ),
    ];
    let derived = [record(
        3,
        "2026-01-10T08:02:00Z",
        json!({"type": "AssumedRole", "arn": session, "accountId": "222233334444",
            "accessKeyId": asia2, "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role}}}),
        "GetCallerIdentity",
        Value::Null,
    )];
    let ingest = |name: &str, records: &[Value]| {
        let file = dir.path().join(name);
        std::fs::write(&file, json!({ "Records": records }).to_string()).unwrap();
        let dead = dir.path().join("dead.ndjson");
        let out = run(
            &[
                "ingest",
                "--opensearch-url",
                &node.url,
                "--ca-cert",
                ca,
                "--opensearch-username",
                &cast.writer_user,
                "--index-prefix",
                &cast.prefix,
                "--dead-letter-file",
                dead.to_str().unwrap(),
                "--findings-learning",
                "0s",
                "--findings-from",
                "2026-01-01T00:00:00Z",
                file.to_str().unwrap(),
            ],
            Some(&cast.writer_password),
            &cast.passwords(),
        );
        let err = stderr(&out);
        assert!(!err.contains("lacks a permission"), "{err}");
        summary(&ok(out))
    };
    assert_eq!(ingest("minting.json", &minting)["indexed"], 2);
    let (status, doc) = node
        .request(
            Method::Get,
            &format!("/trailscope-lineage/_doc/{asia2}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["_source"]["parent"], asia1.as_str());
    // A new process: its findings know nothing of the first run but the lineage index.
    assert_eq!(ingest("derived.json", &derived)["indexed"], 1);
    node.request(Method::Post, "/trailscope-findings/_refresh", None)
        .await;
    let (status, found) = node
        .request(
            Method::Post,
            "/trailscope-findings/_search",
            Some(json!({"query": {"term": {"access_key": asia2}}})),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let hits = found["hits"]["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{found}");
    for h in hits {
        assert_eq!(h["_source"]["lineage_root"], akia.as_str(), "{h}");
        assert_eq!(h["_source"]["lineage_root_known"], true, "{h}");
    }

    // A role made before the lineage index: the start fails at once with the exit code of
    // refused permissions and both fixes; with --no-lineage the same user ingests.
    let (old_user, old_role, password) = node.writer_without(&cast, "trailscope-lineage").await;
    let file = dir.path().join("derived.json");
    let old_ingest = |extra: &[&str]| {
        let dead = dir.path().join("old-dead.ndjson");
        let mut args = vec![
            "ingest",
            "--opensearch-url",
            &node.url,
            "--ca-cert",
            ca,
            "--opensearch-username",
            &old_user,
            "--index-prefix",
            &cast.prefix,
            "--dead-letter-file",
            dead.to_str().unwrap(),
            "--no-findings",
        ];
        args.extend_from_slice(extra);
        args.push(file.to_str().unwrap());
        let mut secrets = cast.passwords();
        secrets.push(&password);
        run(&args, Some(&password), &secrets)
    };
    let out = old_ingest(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("lacks a permission the lineage index needs")
            && err.contains("trailscope_writer")
            && err.contains("--no-lineage"),
        "{err}"
    );
    assert_eq!(summary(&ok(old_ingest(&["--no-lineage"])))["duplicates"], 1);
    node.cleanup(&cast.prefix, &[&old_user], &[&old_role]).await;
    cast.cleanup().await;
}
