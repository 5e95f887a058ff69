//! The first mistakes people make fail in seconds, with the documented exit code and a sentence
//! that names the fix; never a Rust debug dump or a backtrace. Each test runs the binary and
//! measures how long it took to fail (a correctness bound, not a benchmark).
//!
//! What a real server will not do on demand (answer as something else, speak plain HTTP to a TLS
//! hello, never answer) comes from a tiny server on 127.0.0.1:0 started by the test.

mod common;

use base64::Engine as _;
use chrono::Utc;
use common::synthetic;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bound on "fails at once" (the work itself takes well under a second).
/// `forward --once` of a group that need not exist, to an OpenSearch that is never reached: for
/// mistakes that must stop the run before either is asked.
const FORWARD_ANY_GROUP: [&str; 6] = [
    "forward",
    "--once",
    "--log-group",
    "/test/any",
    "--opensearch-url",
    "http://127.0.0.1:9",
];

const FAST: Duration = Duration::from_secs(5);

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the command, returning its output and how long it took.
fn timed(cmd: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().expect("run trailscope");
    (out, started.elapsed())
}

/// What a user reads never holds Rust debug output of an error or a backtrace.
fn assert_readable(text: &str) {
    for dump in [
        "DispatchFailure(",
        "ServiceError(",
        "ConnectorError",
        "Caused by",
        "backtrace",
        "panicked",
        " { ",
    ] {
        assert!(!text.contains(dump), "{dump:?} in: {text}");
    }
}

/// The binary with no AWS configuration at all: an empty HOME (no ~/.aws), no AWS_* variable,
/// and the instance metadata service off (so it is not probed for seconds).
fn bare(args: &[&str], home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    cmd.args(args)
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") && key != "AWS_EC2_METADATA_DISABLED" {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("TRAILSCOPE_CONFIG");
    cmd
}

/// A tiny server: for each connection, reads once (a request, or a TLS hello) and answers
/// `response` (nothing when `None`, keeping the connection open), recording what it read.
fn fake_server(response: Option<&'static [u8]>) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            record.lock().unwrap().extend_from_slice(&buf[..n]);
            match response {
                Some(answer) => {
                    let _ = stream.write_all(answer);
                }
                None => held.push(stream),
            }
        }
    });
    (addr, seen)
}

const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nServer: fake-web/1.0\r\nContent-Type: text/html\r\nContent-Length: 31\r\nConnection: close\r\n\r\n<html><h1>Not Found</h1></html>";
const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: fake-web/1.0\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello world\n";
const UNAUTHORIZED: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

#[test]
fn no_region_fails_at_once_saying_how_to_set_one() {
    let home = tempfile::tempdir().unwrap();
    let (out, took) = timed(&mut bare(&FORWARD_ANY_GROUP, home.path()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(err.contains("set AWS_REGION or --region"), "{err}");
    assert_readable(&err);
    eprintln!("no region: exit 2 in {took:?}");
}

#[test]
fn no_credentials_fail_at_once_naming_where_they_were_looked_for() {
    let home = tempfile::tempdir().unwrap();
    let (out, took) = timed(bare(&FORWARD_ANY_GROUP, home.path()).env("AWS_REGION", "eu-west-1"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(err.contains("IMDS") && err.contains("AWS_PROFILE"), "{err}");
    assert_readable(&err);
    eprintln!("no credentials: exit 3 in {took:?}");

    // A profile that is not there: named.
    let out = bare(&FORWARD_ANY_GROUP, home.path())
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_PROFILE", "prodd")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("(AWS_PROFILE=prodd gave none: is it in ~/.aws/config?)"),
        "{err}"
    );

    // An SSO profile never logged in: its token is not in the cache. Credentials to fix (3),
    // not a network to wait for (4).
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        "[profile sso]\nsso_start_url = https://example.awsapps.com/start\nsso_region = \
         us-east-1\nsso_account_id = 111122223333\nsso_role_name = Reader\nregion = eu-west-1\n",
    )
    .unwrap();
    let (out, took) = timed(bare(&FORWARD_ANY_GROUP, home.path()).env("AWS_PROFILE", "sso"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(
        err.contains("cannot load the AWS credentials") && err.contains("sso/cache"),
        "{err}"
    );
    assert_readable(&err);
}

#[test]
fn config_check_reports_the_region_and_the_credential_source() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "config",
        "check",
        "forward",
        "--log-group",
        "/test/any",
        "--opensearch-url",
        "http://127.0.0.1:9",
    ];
    // Nothing at all: the missing region is a configuration error, the credentials are said
    // to be missing.
    let (out, took) = timed(&mut bare(&args, home.path()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < FAST, "took {took:?}");
    assert!(err.contains("set AWS_REGION or --region"), "{err}");
    assert_readable(&err);

    // A region and no credentials: valid, and what is missing is said.
    let out = bare(&args, home.path())
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout.contains("# aws region: eu-west-1"), "{stdout}");
    assert!(
        stdout.contains("# aws credentials: NONE: no AWS credentials found"),
        "{stdout}"
    );

    // Keys in the environment: that source is named, the secret never shown.
    let out = bare(&args, home.path())
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "Canary-aws-secret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout.contains("# aws credentials: from the environment (AWS_ACCESS_KEY_ID)"),
        "{stdout}"
    );
    assert!(!stdout.contains("Canary-aws-secret"), "{stdout}");

    // A profile in the shared files (with its region there): that source is named.
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        "[default]\nregion = ap-south-1\n",
    )
    .unwrap();
    let out = bare(&args, home.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout.contains("# aws region: ap-south-1"), "{stdout}");
    assert!(
        stdout.contains("# aws credentials: from the shared AWS files"),
        "{stdout}"
    );
}

/// `forward --once` of `group` into a fresh prefix (template installed) with CloudWatch Logs at
/// `endpoint`.
fn forward_at(endpoint: &str, groups: &[&str], prefix: &str, dir: &std::path::Path) -> Command {
    let dead = dir.join("dead.ndjson");
    let mut args = forward_args(groups[0], prefix, &dead, &[]);
    let at = args.iter().position(|a| a == "--endpoint-url").unwrap();
    args[at + 1] = endpoint.to_owned();
    for g in &groups[1..] {
        args.extend(["--log-group".to_owned(), g.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    trailscope_cmd(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_is_not_cloudwatch_logs_is_told_with_what_answered() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-failfast-cw"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();

    // A web server that answers 404 pages.
    let (addr, _) = fake_server(Some(NOT_FOUND));
    let endpoint = format!("http://{addr}");
    let (out, took) = timed(&mut forward_at(
        &endpoint,
        &["/test/x"],
        &prefix,
        dir.path(),
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(
        err.contains(&format!(
            "{endpoint} does not answer as the CloudWatch Logs API (HTTP 404, Server: fake-web/1.0, body: <html><h1>Not Found</h1></html>)"
        )),
        "{err}"
    );
    assert!(err.contains("--endpoint-url"), "{err}");
    assert_readable(&err);
    eprintln!("not CloudWatch Logs: exit 2 in {took:?}");

    // https:// to a plain-HTTP server.
    let (addr, _) = fake_server(Some(HELLO));
    let endpoint = format!("https://{addr}");
    let (out, took) = timed(&mut forward_at(
        &endpoint,
        &["/test/x"],
        &prefix,
        dir.path(),
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(
        err.contains("this server does not speak TLS: use http://"),
        "{err}"
    );
    assert_readable(&err);
    eprintln!("https to plain HTTP (CloudWatch Logs): exit 2 in {took:?}");
    stack.cleanup(&prefix).await;
}

#[test]
fn an_opensearch_url_that_is_not_opensearch_is_told_with_what_answered() {
    for (answer, status) in [(HELLO, "HTTP 200"), (NOT_FOUND, "HTTP 404")] {
        let (addr, _) = fake_server(Some(answer));
        let url = format!("http://{addr}/");
        let (out, took) = timed(&mut trailscope_cmd(&[
            "setup",
            "--opensearch-url",
            &url,
            "--index-prefix",
            "t-failfast-",
        ]));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(took < FAST, "took {took:?}: {err}");
        assert!(
            err.contains(&format!(
                "{url} does not answer as OpenSearch (GET / gave {status}, Server: fake-web/1.0"
            )),
            "{err}"
        );
        assert!(!err.contains("unknown"), "{err}");
        assert_readable(&err);
    }

    // https:// to a plain-HTTP server.
    let (addr, _) = fake_server(Some(HELLO));
    let (out, took) = timed(&mut trailscope_cmd(&[
        "setup",
        "--opensearch-url",
        &format!("https://{addr}"),
        "--index-prefix",
        "t-failfast-",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(
        err.contains("this server does not speak TLS: use http://"),
        "{err}"
    );
    assert_readable(&err);
}

#[test]
fn a_server_that_never_answers_is_said_to_be_awaited_within_seconds() {
    let (addr, _) = fake_server(None);
    let url = format!("http://{addr}/");
    let mut child = trailscope_cmd(&[
        "setup",
        "--opensearch-url",
        &url,
        "--index-prefix",
        "t-failfast-",
        "--request-timeout-secs",
        "9",
    ])
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    // The first line comes after ~5 s, long before the request times out.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    while !first.contains("still waiting") {
        first.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut first).unwrap() > 0);
    }
    let said_after = started.elapsed();
    assert!(
        first.contains(&format!(
            "still waiting for OpenSearch at {url} to answer GET / (no answer after 5 s)"
        )),
        "{first}"
    );
    assert!(
        said_after >= Duration::from_secs(4) && said_after < Duration::from_secs(8),
        "said after {said_after:?}"
    );
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4), "{rest}");
    assert!(rest.contains("unreachable"), "{rest}");
    assert_readable(&rest);
    eprintln!("never answers: warned after {said_after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_log_group_among_others_is_reported_after_the_others_are_read() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-failfast-missing"));
    setup(&prefix);
    let group = format!("/test/{}", unique("failfast-present"));
    let absent = format!("/test/{}", unique("failfast-absent"));
    let events = synthetic::events(0xFA57, 30, Utc::now() - chrono::Duration::hours(1), 1000);
    stack.put_events(&group, 1, &events).await;
    let dir = tempfile::tempdir().unwrap();

    // --once: the present group is read whole, the absent one reported, exit 1.
    let (out, took) = timed(&mut forward_at(
        &cloudwatch_url(),
        &[&absent, &group],
        &prefix,
        dir.path(),
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        err.contains(&format!(
            "log group {absent} does not exist in region us-east-1 at {}: check the names, \
             --region and --endpoint-url (the other groups were read)",
            cloudwatch_url()
        )),
        "{err}"
    );
    assert_readable(&err);
    assert_eq!(stack.count(&prefix).await, 30);

    // Continuously: a warning, the others polled, and the group read once it exists.
    let late = format!("/test/{}", unique("failfast-late"));
    let cmd = forward_at(&cloudwatch_url(), &[&late, &group], &prefix, dir.path());
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a != "--once")
        .collect();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--poll-interval", "1s"]);
    let log = dir.path().join("continuous.log");
    let mut child = trailscope_cmd(&args)
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let warned = format!(
        "log group {late} does not exist in region us-east-1 at {}: polling the others",
        cloudwatch_url()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).unwrap().contains(&warned) {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let more = synthetic::events(0xFA58, 20, Utc::now() - chrono::Duration::minutes(5), 1000);
    stack.put_events(&late, 1, &more).await;
    while stack.count(&prefix).await < 50 {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert_eq!(text.matches(&warned).count(), 1, "warned once: {text}");
    assert!(
        text.contains(&format!("log group {late} exists now")),
        "{text}"
    );
    assert_readable(&text);
    assert_eq!(stack.count(&prefix).await, 50);
    stack.cleanup(&prefix).await;
}

#[test]
fn rust_backtrace_does_not_turn_an_error_into_a_backtrace() {
    let (out, took) = timed(
        trailscope_cmd(&[
            "setup",
            "--opensearch-url",
            "http://127.0.0.1:9",
            "--index-prefix",
            "t-failfast-",
        ])
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1"),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("Error: OpenSearch at http://127.0.0.1:9/ is unreachable"),
        "{err}"
    );
    assert!(
        err.contains(
            "check that OpenSearch is running and that --opensearch-url names its host and port"
        ),
        "the fix is named: {err}"
    );
    assert_readable(&err);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let prefix = format!("{}-", unique("t-failfast-pipe"));
    let os = opensearch_url();
    let commands: [&[&str]; 3] = [
        &[
            "config",
            "check",
            "forward",
            "--log-group",
            "/test/any",
            "--opensearch-url",
            "http://127.0.0.1:9",
        ],
        &["setup", "--print-roles"],
        &[
            "retention",
            "--opensearch-url",
            &os,
            "--index-prefix",
            &prefix,
            "--keep",
            "90d",
            "--dry-run",
        ],
    ];
    for args in commands {
        let mut child = trailscope_cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes (as `| head -1` does after a line).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_where_every_event_is_dead_lettered_says_so() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-failfast-dead"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.ndjson");
    std::fs::write(
        &input,
        "not json\n{\"also\": \"not a CloudTrail record\"\n[1, 2\n",
    )
    .unwrap();
    let dead = dir.path().join("dead.ndjson");
    let out = trailscope(&[
        "ingest",
        input.to_str().unwrap(),
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    // Nothing was lost (every line is in the dead-letter file with its reason): exit 0, and said.
    assert_eq!(out.status.code(), Some(0), "{err}");
    let s = summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(s["indexed"], 0, "{s}");
    let n = s["dead_lettered"].as_u64().unwrap();
    assert!(n > 0, "{s}");
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap().lines().count() as u64,
        n
    );
    assert!(
        err.contains(&format!(
            "{n} of {} events were not indexed: they are in the dead-letter file {}",
            s["read"],
            dead.display()
        )),
        "{err}"
    );
    stack.cleanup(&prefix).await;
}

#[test]
fn a_password_in_the_url_is_sent_decoded() {
    let (addr, seen) = fake_server(Some(UNAUTHORIZED));
    let (out, took) = timed(&mut trailscope_cmd(&[
        "setup",
        "--opensearch-url",
        &format!("http://writer:p%40ss%3Aw0rd@{addr}/"),
        "--index-prefix",
        "t-failfast-",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    let request = String::from_utf8_lossy(&seen.lock().unwrap()).to_ascii_lowercase();
    let expected = base64::engine::general_purpose::STANDARD.encode("writer:p@ss:w0rd");
    assert!(
        request.contains(&format!(
            "authorization: basic {}",
            expected.to_ascii_lowercase()
        )),
        "{request}"
    );
    assert!(!err.contains("p@ss") && !err.contains("p%40ss"), "{err}");
}

/// A proxy to `upstream` that passes everything until a request to `_bulk` comes: that one is
/// held, never forwarded nor answered (a cluster that stopped answering mid-run). Returns its
/// address and whether a `_bulk` request was held.
fn proxy_holding_bulk(upstream: String) -> (String, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let held = Arc::new(AtomicBool::new(false));
    let flag = held.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = std::net::TcpStream::connect(&upstream) else {
                return;
            };
            let (mut client_back, mut server_in) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_in, &mut client_back);
            });
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if flag.load(Ordering::SeqCst)
                        || String::from_utf8_lossy(&buf[..n]).contains("/_bulk")
                    {
                        flag.store(true, Ordering::SeqCst);
                        continue;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, held)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_stops_forward_before_it_drained() {
    use std::sync::atomic::Ordering;
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-failfast-130"));
    setup(&prefix);
    let group = format!("/test/{}", unique("failfast-130"));
    let events = synthetic::events(0x130, 20, Utc::now() - chrono::Duration::hours(1), 1000);
    stack.put_events(&group, 1, &events).await;
    let upstream = opensearch_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (proxy, held) = proxy_holding_bulk(upstream);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let mut args = forward_args(&group, &prefix, &dead, &[]);
    args.retain(|a| a != "--once");
    let at = args.iter().position(|a| a == "--opensearch-url").unwrap();
    args[at + 1] = format!("http://{proxy}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.path().join("forward.log");
    let mut child = trailscope_cmd(&args)
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !held.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first signal: draining, which cannot finish (the bulk request is held).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let draining = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("stopping: finishing what was read")
    {
        assert!(
            Instant::now() < draining,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "still draining");
    // The second: out now, with 130.
    let started = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
    assert!(
        text.contains("second signal: exiting before delivery finished"),
        "{text}"
    );
    assert_readable(&text);
    // Nothing was acknowledged: the checkpoint did not move past the events.
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("checkpoint.json")).unwrap())
            .unwrap();
    let state = &checkpoint["groups"][&group];
    assert!(state["watermark"].is_null(), "{checkpoint}");
    assert!(
        state["seen"].as_object().is_none_or(|s| s.is_empty()),
        "{checkpoint}"
    );
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloudwatch_endpoint_that_never_answers_is_said_to_be_awaited() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-failfast-silent"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = fake_server(None);
    let endpoint = format!("http://{addr}");
    let mut child = forward_at(&endpoint, &["/test/silent"], &prefix, dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("still waiting") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0);
    }
    let said_after = started.elapsed();
    assert!(
        line.contains(&format!(
            "still waiting for CloudWatch Logs (region us-east-1 at {endpoint}) to answer \
             FilterLogEvents on /test/silent (no answer after 8 s)"
        )),
        "{line}"
    );
    assert!(
        said_after < Duration::from_secs(12),
        "said after {said_after:?}"
    );
    // SIGTERM stops the wait at once: nothing was read, exit 0.
    let stopping = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        stopping.elapsed() < FAST,
        "stopped after {:?}",
        stopping.elapsed()
    );
    eprintln!("CloudWatch Logs never answers: warned after {said_after:?}");

    // The same while looking for log groups by prefix.
    let mut args: Vec<String> = forward_at(&endpoint, &["/test/silent"], &prefix, dir.path())
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = args.iter().position(|a| a == "--log-group").unwrap();
    args[at] = "--log-group-prefix".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = trailscope_cmd(&args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("still waiting") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0);
    }
    assert!(
        line.contains(&format!(
            "still waiting for CloudWatch Logs (region us-east-1 at {endpoint}) to answer \
             DescribeLogGroups (no answer after 8 s)"
        )),
        "{line}"
    );
    let stopping = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(
        stopping.elapsed() < FAST,
        "stopped after {:?}",
        stopping.elapsed()
    );
    stack.cleanup(&prefix).await;
}

#[test]
fn the_aws_sdk_own_debug_dumps_stay_out_of_the_log() {
    // The instance metadata service answering 403 (as off EC2 behind a proxy): the SDK warns
    // with a Debug dump of each failed probe; trailscope says what it leads to.
    const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndenied";
    let (imds, seen) = fake_server(Some(FORBIDDEN));
    let home = tempfile::tempdir().unwrap();
    let (out, took) = timed(
        bare(&FORWARD_ANY_GROUP, home.path())
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                format!("http://{imds}"),
            ),
    );
    let err = stderr(&out);
    assert!(!seen.lock().unwrap().is_empty(), "IMDS was asked");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(!err.contains("FailedToLoadToken"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("set AWS_REGION or --region"), "{err}");
    assert_readable(&err);
}

/// `openssl s_server` with a fresh self-signed certificate (trusted by nobody) on a free port;
/// killed when dropped.
struct SelfSignedTls {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for SelfSignedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed_tls() -> SelfSignedTls {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("this test needs the openssl command line tool");
    assert!(made.status.success(), "{}", stderr(&made));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &port.to_string(),
            "-cert",
        ])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    SelfSignedTls {
        child,
        addr,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_a_tls_failure_at_once_not_a_retry() {
    let stack = Stack::connect().await;
    let tls = self_signed_tls();
    // OpenSearch: the TLS failure, with what to do (exit 1).
    let (out, took) = timed(&mut trailscope_cmd(&[
        "setup",
        "--opensearch-url",
        &format!("https://{}", tls.addr),
        "--index-prefix",
        "t-failfast-",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("TLS connection to https://{}/ failed", tls.addr))
            && err.contains("pass it with --ca-cert FILE.pem"),
        "{err}"
    );
    assert_readable(&err);

    // CloudWatch Logs: no longer retried until --source-give-up (a certificate does not fix
    // itself): exit 1 at once.
    let prefix = format!("{}-", unique("t-failfast-tls"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = timed(&mut forward_at(
        &format!("https://{}", tls.addr),
        &["/test/tls"],
        &prefix,
        dir.path(),
    ));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < FAST, "took {took:?}: {err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert_readable(&err);
    stack.cleanup(&prefix).await;
}

/// A mistyped `--endpoint-url` (nothing listens there) is a mistake told in seconds, not a
/// transient failure retried for --source-give-up (10 minutes by default): said at once, and an
/// exit after 30 s.
#[test]
fn an_endpoint_where_nothing_listens_is_told_in_seconds() {
    let mut args = FORWARD_ANY_GROUP.to_vec();
    args.extend_from_slice(&["--endpoint-url", "http://127.0.0.1:9"]);
    let (out, took) = timed(&mut trailscope_cmd(&args));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // Said at once, then 30 s of attempts (a local API may still be starting), then the exit.
    assert!(took < Duration::from_secs(40), "took {took:?}: {err}");
    assert!(
        err.lines()
            .next()
            .unwrap_or_default()
            .contains("trying again for 30 s"),
        "{err}"
    );
    assert!(
        err.contains("nothing answers at --endpoint-url http://127.0.0.1:9 (connection refused")
            && err.contains("check its host and port"),
        "{err}"
    );
    assert_readable(&err);
}

/// Without `setup`, the sentence names the command to run as written for this run's prefix.
#[test]
fn a_missing_template_names_setup_with_the_runs_prefix() {
    let prefix = format!("{}-", unique("t-failfast-notemplate"));
    let os = opensearch_url();
    let dir = tempfile::tempdir().unwrap();
    let out = trailscope(&[
        "ingest",
        "--opensearch-url",
        &os,
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dir.path().join("dead.ndjson").to_str().unwrap(),
        "/dev/null",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    let url = os.trim_end_matches('/');
    assert!(
        err.contains(&format!(
            "run `trailscope setup --opensearch-url {url}/ --index-prefix {prefix}` first"
        )),
        "{err}"
    );
    assert_readable(&err);
}
