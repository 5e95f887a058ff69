//! Configuration file and precedence, `config check`, logs (JSON, no ANSI, no secrets) and exit
//! codes, against the real local stack (OpenSearch + moto).

mod common;

use common::synthetic;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const PASSWORD: &str = "Pw-recognisable-7Qx9zK";
const AWS_SECRET: &str = "AwsSecret-recognisable-Lm3Vb8";

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The line of `config check` output for `key`: (value text, origin).
fn checked<'a>(stdout: &'a str, key: &str) -> Option<(&'a str, &'a str)> {
    stdout.lines().find_map(|l| {
        let (setting, origin) = l.split_once("  # ")?;
        let value = setting.trim_end().strip_prefix(&format!("{key} = "))?;
        Some((value, origin.trim()))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn file_env_and_flags_take_their_documented_precedence_in_a_real_forward() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("config"));
    let file_prefix = format!("{}-", unique("t-cfg-file"));
    let env_prefix = format!("{}-", unique("t-cfg-env"));
    let dir = tempfile::tempdir().unwrap();
    let events = synthetic::events(
        0xC0F,
        30,
        chrono::Utc::now() - chrono::Duration::hours(1),
        1_000,
    );
    stack.put_events(&group, 1, &events).await;
    setup(&env_prefix);

    // The file names everything; the environment overrides the prefix; a flag overrides the
    // dead-letter file. batch_events = 7 (file only) must show in the number of bulk requests.
    let config = write(
        dir.path(),
        "forward.toml",
        &format!(
            "opensearch_url = \"{}\"\nendpoint_url = \"{}\"\nlog_group = [\"{group}\"]\n\
             index_prefix = \"{file_prefix}\"\nbatch_events = 7\nonce = true\n\
             checkpoint_file = \"{}\"\ndead_letter_file = \"/nonexistent/dead.ndjson\"\n",
            opensearch_url(),
            cloudwatch_url(),
            dir.path().join("checkpoint.json").display()
        ),
    );
    let dead = dir.path().join("dead.ndjson");
    let out = trailscope_cmd(&[
        "forward",
        "--config",
        &config,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ])
    .env("TRAILSCOPE_INDEX_PREFIX", &env_prefix)
    .output()
    .unwrap();
    let summary: Value = serde_json::from_str(ok(out).lines().last().unwrap()).unwrap();
    assert_eq!(summary["read"], 30, "{summary}");
    assert_eq!(summary["indexed"], 30, "{summary}");
    assert_eq!(
        summary["bulk_requests"], 5,
        "30 events in batches of 7: {summary}"
    );
    assert_eq!(stack.count(&env_prefix).await, 30);
    assert_eq!(
        stack.count(&file_prefix).await,
        0,
        "nothing may be indexed under the file's prefix"
    );

    // config check reports the same sources, and the same file through TRAILSCOPE_CONFIG.
    let out = trailscope_cmd(&[
        "config",
        "check",
        "forward",
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ])
    .env("TRAILSCOPE_CONFIG", &config)
    .env("TRAILSCOPE_INDEX_PREFIX", &env_prefix)
    .output()
    .unwrap();
    let stdout = ok(out);
    assert_eq!(
        checked(&stdout, "index_prefix"),
        Some((
            format!("\"{env_prefix}\"").as_str(),
            "env TRAILSCOPE_INDEX_PREFIX"
        )),
        "{stdout}"
    );
    assert_eq!(
        checked(&stdout, "dead_letter_file").map(|c| c.1),
        Some("flag")
    );
    assert_eq!(
        checked(&stdout, "batch_events"),
        Some(("7", "file")),
        "{stdout}"
    );
    assert_eq!(
        checked(&stdout, "log_group"),
        Some((format!("[\"{group}\"]").as_str(), "file"))
    );
    assert_eq!(
        checked(&stdout, "concurrency"),
        Some(("2", "default")),
        "{stdout}"
    );
    stack.cleanup(&env_prefix).await;
}

#[test]
fn invalid_configuration_exits_2_naming_the_key_and_contacts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown key (a typo), with a suggestion.
    let typo = write(
        dir.path(),
        "typo.toml",
        "opensearch_url = \"http://127.0.0.1:1\"\nlog_grop = [\"a\"]\n",
    );
    for args in [
        vec!["forward", "--config", typo.as_str()],
        vec!["config", "check", "--config", typo.as_str()],
    ] {
        let out = trailscope(&args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("`log_grop`") && stderr.contains("did you mean `log_group`"),
            "{stderr}"
        );
    }
    // A value the flag's parser refuses: the flag is named.
    let bad = write(
        dir.path(),
        "bad.toml",
        "opensearch_url = \"http://127.0.0.1:1\"\nlog_group = [\"a\"]\nconcurrency = 0\n",
    );
    let out = trailscope(&["forward", "--config", &bad]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--concurrency"), "{stderr}");
    // A secret in the file is refused without being echoed.
    let secret = write(
        dir.path(),
        "secret.toml",
        &format!("opensearch_password = \"{PASSWORD}\"\n"),
    );
    let out = trailscope(&["config", "check", "--config", &secret]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TRAILSCOPE_OPENSEARCH_PASSWORD"),
        "{stderr}"
    );
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    // Not TOML.
    let broken = write(dir.path(), "broken.toml", "opensearch_url = \n");
    let out = trailscope(&["config", "check", "--config", &broken]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("not valid TOML"), "{}", text(&out).1);
    // A missing file.
    let out = trailscope(&["forward", "--config", "/nonexistent/trailscope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("/nonexistent/trailscope.toml"));
    // config check without a log group, and with a password file that does not exist.
    let out = trailscope(&[
        "config",
        "check",
        "forward",
        "--opensearch-url",
        "http://127.0.0.1:1",
        "--opensearch-password-file",
        "/nonexistent/pw",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("log_group") && stderr.contains("/nonexistent/pw"),
        "{stderr}"
    );
    // forward without a log group: a usage error too.
    let out = trailscope(&["forward", "--opensearch-url", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
}

/// Every configuration file of `examples/` passes `config check` as shipped, for each command
/// it is meant for: a new example must be listed here, or this test fails.
#[test]
fn every_example_configuration_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = [
        ("forward.toml", &["forward"][..]),
        ("ingest.toml", &["ingest"][..]),
        ("lambda.toml", &["lambda"][..]),
        ("setup.toml", &["setup", "audit", "retention"][..]),
    ];
    let mut shipped: Vec<String> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    shipped.sort();
    let mut listed: Vec<String> = table.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(shipped, listed, "every example in examples/ is checked");
    for (file, modes) in table {
        let path = format!("examples/{file}");
        let content = std::fs::read_to_string(root.join(&path)).unwrap();
        for mode in modes {
            let mut args = vec!["config", "check", "--config", path.as_str(), mode];
            if *mode == "audit" {
                args.extend(["--access-key", "AKIAEXAMPLE"]);
            }
            // No AWS_REGION from the test environment: `region` must come from the file.
            let out = trailscope_cmd(&args)
                .current_dir(root)
                .env_remove("AWS_REGION")
                .env_remove("TRAILSCOPE_CONFIG")
                .output()
                .unwrap();
            let (stdout, stderr) = text(&out);
            assert!(
                out.status.success(),
                "{file} for {mode}: {stderr}\n{stdout}"
            );
            // Every key of the file that this command has is reported as coming from the file.
            let keys: Vec<&str> = content
                .lines()
                .filter(|l| !l.starts_with('#') && l.contains(" = "))
                .map(|l| l.split(" = ").next().unwrap().trim())
                .collect();
            let reported = keys
                .iter()
                .filter(|k| checked(&stdout, k).is_some())
                .count();
            assert!(reported > 0, "{file} for {mode}: {stdout}");
            for k in keys {
                if let Some((_, origin)) = checked(&stdout, k) {
                    assert_eq!(origin, "file", "{file} {mode} {k}: {stdout}");
                }
            }
        }
    }
}

/// The README's own `config check` example runs as written (variables, command line) from a
/// fresh clone and prints the lines it shows.
#[test]
fn the_readme_config_check_example_runs_as_shown() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut lines = readme
        .lines()
        .skip_while(|l| !(l.starts_with("$ ") && l.contains("trailscope config check")));
    let command = lines
        .next()
        .expect("a `$ ... trailscope config check` line");
    let shown: Vec<&str> = lines
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| *l != "...")
        .collect();
    assert!(shown.len() >= 3, "{shown:?}");
    let words: Vec<&str> = command
        .trim_start_matches("$ ")
        .split_whitespace()
        .collect();
    let at = words.iter().position(|w| *w == "trailscope").unwrap();
    let mut cmd = trailscope_cmd(&words[at + 1..]);
    cmd.current_dir(root).env_remove("TRAILSCOPE_CONFIG");
    for assignment in &words[..at] {
        let (k, v) = assignment.split_once('=').unwrap();
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{command}: {stderr}");
    let squeeze = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let printed: Vec<String> = stdout.lines().map(squeeze).collect();
    for l in shown {
        assert!(
            printed.contains(&squeeze(l)),
            "the README shows `{l}`, `{command}` printed:\n{stdout}"
        );
    }
}

/// Runs trailscope with the recognisable password and AWS secret key in its environment.
fn with_secrets(args: &[&str]) -> Output {
    trailscope_cmd(args)
        .env("TRAILSCOPE_OPENSEARCH_PASSWORD", PASSWORD)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("TRAILSCOPE_LOG", "debug")
        .output()
        .unwrap()
}

fn assert_no_secret(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        for secret in [PASSWORD, AWS_SECRET] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{what}: {stream} shows a secret:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_json_lines_without_secrets_and_exit_codes_tell_what_failed() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("logs"));
    let prefix = format!("{}-", unique("t-logs"));
    let dir = tempfile::tempdir().unwrap();
    let events = synthetic::events(
        0x106,
        20,
        chrono::Utc::now() - chrono::Duration::hours(1),
        1_000,
    );
    stack.put_events(&group, 1, &events).await;
    setup(&prefix);
    let (os, cw) = (opensearch_url(), cloudwatch_url());
    let checkpoint = dir.path().join("checkpoint.json");
    let dead = dir.path().join("dead.ndjson");
    // A URL with the password in it, too: it must be masked wherever it is printed.
    let url_with_password = os.replacen("://", &format!("://forwarder:{PASSWORD}@"), 1);
    let forward = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "forward",
            "--once",
            "--log-group",
            &group,
            "--opensearch-url",
            url,
            "--opensearch-username",
            "forwarder",
            "--endpoint-url",
            &cw,
            "--index-prefix",
            &prefix,
            "--checkpoint-file",
            checkpoint.to_str().unwrap(),
            "--dead-letter-file",
            dead.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        with_secrets(&args)
    };

    // A successful run, JSON logs at debug level.
    let out = forward(&os, &["--log-format", "json"]);
    assert_no_secret("forward --once", &out);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], 20, "{summary}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["timestamp"].is_string() && l["target"].is_string()));
    let finished = lines
        .iter()
        .find(|l| l["message"] == "forward finished")
        .expect("a `forward finished` line");
    assert_eq!(finished["indexed"], 20, "{finished}");
    // No per-event lines at info: a handful of lines for 20 events.
    let info = lines
        .iter()
        .filter(|l| l["level"] == "INFO" || l["level"] == "WARN")
        .count();
    assert!(info < 20, "{info} info lines for 20 events:\n{stderr}");

    // Text logs to a pipe: no ANSI escapes, even without NO_COLOR.
    let out = trailscope_cmd(&[
        "forward",
        "--once",
        "--log-group",
        &group,
        "--opensearch-url",
        &os,
        "--endpoint-url",
        &cw,
        "--index-prefix",
        &prefix,
        "--checkpoint-file",
        checkpoint.to_str().unwrap(),
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ])
    .env_remove("NO_COLOR")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!out.stderr.contains(&0x1b), "{}", text(&out).1);
    assert!(text(&out).1.contains("forward finished"));

    // The password in the URL, JSON and text.
    for format in ["json", "text"] {
        let out = forward(&url_with_password, &["--log-format", format]);
        assert_no_secret("password in the URL", &out);
        assert!(out.status.success(), "{}", text(&out).1);
    }

    // OpenSearch unreachable (nothing listens): exit 4, in either log format, no secret.
    for format in ["json", "text"] {
        let closed = "http://127.0.0.1:9/".to_owned();
        let out = forward(&closed, &["--log-format", format]);
        assert_no_secret("unreachable", &out);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(stderr.contains("unreachable"), "{stderr}");
        if format == "json" {
            let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
            assert_eq!(last["level"], "ERROR", "{last}");
            assert_eq!(last["exit_code"], 4, "{last}");
        }
    }
    // A log group that does not exist: an ordinary error, exit 1.
    let out = with_secrets(&[
        "forward",
        "--once",
        "--log-group",
        "/test/does-not-exist-anywhere",
        "--opensearch-url",
        &os,
        "--endpoint-url",
        &cw,
        "--index-prefix",
        &prefix,
        "--checkpoint-file",
        dir.path().join("other.json").to_str().unwrap(),
    ]);
    assert_no_secret("no such group", &out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);

    // config check: says a password is set, never shows it, masks it in the URL.
    let out = with_secrets(&[
        "config",
        "check",
        "forward",
        "--log-group",
        &group,
        "--opensearch-url",
        &url_with_password,
    ]);
    assert_no_secret("config check", &out);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("# opensearch password: *** (env TRAILSCOPE_OPENSEARCH_PASSWORD)"),
        "{stdout}"
    );
    assert!(stdout.contains("forwarder:***@"), "{stdout}");
    stack.cleanup(&prefix).await;
}
