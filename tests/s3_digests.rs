//! `ingest s3://... --validate-digests` against moto's S3 and a real OpenSearch: a day of log
//! files with a chain of hourly digest files signed as CloudTrail signs them, with a key pair the
//! test makes (moto has no CloudTrail `ListPublicKeys`, so the test writes the keys file that
//! `aws cloudtrail list-public-keys` would give). An untouched day validates; a changed log file,
//! a deleted one, a broken chain, a deleted digest and an unknown key are each reported by name
//! and make the run fail.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use common::s3::{self, bucket, gzip};
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Output;

const ACCOUNT: &str = "444455556666";
const REGION: &str = "eu-central-1";
const FINGERPRINT: &str = "6b1f6b3e2a7c0d9e8f7a6b5c4d3e2f10";
const HOURS: usize = 24;

fn log_json(hour: usize, event_name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"Records": [{
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"), "accountId": ACCOUNT,
            "userName": "alice"},
        "eventTime": format!("2026-03-10T{hour:02}:03:00Z"),
        "eventSource": "iam.amazonaws.com",
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestID": format!("req-digests-{hour}"),
        "eventID": format!("digests-{hour}"),
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }]}))
    .unwrap()
}

fn log_key(hour: usize) -> String {
    format!(
        "trail/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/03/10/\
         {ACCOUNT}_CloudTrail_{REGION}_20260310T{hour:02}05Z_h{hour}.json.gz"
    )
}

/// The digest of hour `hour` ends at the next hour: the last one lands in the next day's folder.
fn digest_key(hour: usize) -> String {
    let (day, end) = if hour + 1 == HOURS {
        (11, 0)
    } else {
        (10, hour + 1)
    };
    format!(
        "trail/AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/03/{day:02}/\
         {ACCOUNT}_CloudTrail-Digest_{REGION}_org-trail_{REGION}_202603{day:02}T{end:02}0030Z.json.gz"
    )
}

struct Trail {
    bucket: String,
    key_pair: KeyPair,
}

impl Trail {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn sign(&self, message: &[u8]) -> String {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .unwrap();
        hex::encode(signature)
    }

    /// The keys file as `aws cloudtrail list-public-keys --output json` writes it.
    fn keys_file(&self, dir: &Path, fingerprint: &str) -> String {
        let path = dir.join("keys.json");
        let value =
            base64::engine::general_purpose::STANDARD.encode(self.key_pair.public_key().as_ref());
        let keys = json!({"PublicKeyList": [{
            "Value": value,
            "ValidityStartTime": "2026-01-01T00:00:00+00:00",
            "ValidityEndTime": "2027-01-01T00:00:00+00:00",
            "Fingerprint": fingerprint,
        }]});
        std::fs::write(&path, keys.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn put(
        &self,
        s3: &aws_sdk_s3::Client,
        key: &str,
        body: Vec<u8>,
        signature: Option<&str>,
    ) {
        let mut put = s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body));
        if let Some(signature) = signature {
            put = put
                .metadata("signature", signature)
                .metadata("signature-algorithm", "SHA256withRSA");
        }
        put.send().await.unwrap();
    }

    async fn delete(&self, s3: &aws_sdk_s3::Client, key: &str) {
        s3.delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }

    /// A day (2026-03-10) of one log file an hour and its 24 hourly digests, chained and signed
    /// as CloudTrail does; `change` edits a digest (by hour) before it is signed.
    async fn write(s3: &aws_sdk_s3::Client, change: impl Fn(usize, &mut Value)) -> Trail {
        let bucket = bucket(s3, "digests").await;
        let trail = Trail {
            bucket,
            key_pair: KeyPair::generate(KeySize::Rsa2048).unwrap(),
        };
        let mut previous: Option<(String, String)> = None;
        for hour in 0..HOURS {
            let log = log_json(hour, "GetUser");
            trail.put(s3, &log_key(hour), gzip(&log), None).await;
            let (end_day, end_hour) = if hour + 1 == HOURS {
                (11, 0)
            } else {
                (10, hour + 1)
            };
            let mut digest = json!({
                "awsAccountId": ACCOUNT,
                "digestStartTime": format!("2026-03-10T{hour:02}:00:30Z"),
                "digestEndTime": format!("2026-03-{end_day:02}T{end_hour:02}:00:30Z"),
                "digestS3Bucket": trail.bucket,
                "digestS3Object": digest_key(hour),
                "digestPublicKeyFingerprint": FINGERPRINT,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": format!("2026-03-10T{hour:02}:03:00Z"),
                "oldestEventTime": format!("2026-03-10T{hour:02}:03:00Z"),
                "previousDigestS3Bucket": previous.as_ref().map(|_| trail.bucket.clone()),
                "previousDigestS3Object": previous.as_ref().map(|(key, _)| key.clone()),
                "previousDigestHashValue": null,
                "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
                "previousDigestSignature": previous.as_ref().map(|(_, sig)| sig.clone()),
                "logFiles": [{
                    "s3Bucket": trail.bucket,
                    "s3Object": log_key(hour),
                    "hashValue": hex::encode(Sha256::digest(&log)),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": format!("2026-03-10T{hour:02}:03:00Z"),
                    "oldestEventTime": format!("2026-03-10T{hour:02}:03:00Z"),
                }],
            });
            change(hour, &mut digest);
            let uncompressed = serde_json::to_vec(&digest).unwrap();
            // The string CloudTrail signs (see src/source/digests.rs for the AWS pages).
            let to_sign = format!(
                "{}\n{}/{}\n{}\n{}",
                digest["digestEndTime"].as_str().unwrap(),
                trail.bucket,
                digest_key(hour),
                hex::encode(Sha256::digest(&uncompressed)),
                digest["previousDigestSignature"].as_str().unwrap_or("null"),
            );
            let signature = trail.sign(to_sign.as_bytes());
            trail
                .put(s3, &digest_key(hour), gzip(&uncompressed), Some(&signature))
                .await;
            previous = Some((digest_key(hour), signature));
        }
        trail
    }

    fn validate(&self, prefix: &str, dir: &Path, fingerprint: &str) -> (Output, Value) {
        self.validate_with(prefix, dir, fingerprint, None)
    }

    /// As [`Trail::validate`], with findings on and written to `findings` when given.
    fn validate_with(
        &self,
        prefix: &str,
        dir: &Path,
        fingerprint: &str,
        findings: Option<&str>,
    ) -> (Output, Value) {
        let keys = self.keys_file(dir, fingerprint);
        let dead = dir.join("dead.ndjson");
        let location = format!("s3://{}/trail", self.bucket);
        let mut cmd = trailscope_cmd(&[
            "ingest",
            "--opensearch-url",
            &opensearch_url(),
            "--index-prefix",
            prefix,
            "--dead-letter-file",
            dead.to_str().unwrap(),
            "--endpoint-url",
            &cloudwatch_url(),
            "--since",
            "2026-03-10",
            "--until",
            "2026-03-11",
            "--validate-digests",
            "--digest-public-keys",
            &keys,
            &location,
        ]);
        if let Some(index) = findings {
            cmd.env_remove("TRAILSCOPE_NO_FINDINGS")
                .args(["--findings-index", index]);
        }
        let out = cmd.output().unwrap();
        let summary = output_summary(&out);
        (out, summary["digests"].clone())
    }
}

fn names(report: &Value, kind: &str) -> Vec<String> {
    report[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Every kind of problem the report has, with nothing in it.
const KINDS: [&str; 6] = [
    "missing",
    "altered",
    "unchained",
    "bad_signature",
    "no_key",
    "not_covered",
];

/// The report has exactly these problems (kind, object); the run failed with exit code 1 and said
/// why on stderr.
fn only_problems(out: &Output, report: &Value, expected: &[(&str, String)]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    for kind in KINDS {
        let want: Vec<String> = expected
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, o)| o.clone())
            .collect();
        assert_eq!(names(report, kind), want, "{kind}: {report}\n{stderr}");
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("integrity validation found"),
        "the failure is told: {stderr}"
    );
    for (kind, object) in expected {
        assert!(
            stderr.contains(object) && stderr.contains(&format!("problem={kind}")),
            "{kind} {object} is logged: {stderr}"
        );
    }
}

#[tokio::test]
async fn an_untouched_day_validates_and_is_indexed() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let trail = Trail::write(&s3, |_, _| {}).await;
    let prefix = format!("{}-", unique("digests-ok"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = trail.validate(&prefix, dir.path(), FINGERPRINT);
    let stdout = ok(out);
    assert_eq!(report["validated"], HOURS as u64, "{stdout}");
    assert_eq!(report["log_files_valid"], HOURS as u64, "{stdout}");
    for kind in KINDS {
        assert_eq!(
            names(&report, kind),
            Vec::<String>::new(),
            "{kind}: {stdout}"
        );
    }
    assert_eq!(summary(&stdout)["indexed"], HOURS as u64, "{stdout}");
    assert_eq!(stack.count(&prefix).await, HOURS as u64);
    stack.cleanup(&prefix).await;
}

#[tokio::test]
async fn a_changed_and_a_deleted_log_file_are_reported_by_name() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let trail = Trail::write(&s3, |_, _| {}).await;
    // An event changed after delivery (same name, same size of file or not: the hash tells).
    trail
        .put(&s3, &log_key(5), gzip(&log_json(5, "DeleteUser")), None)
        .await;
    trail.delete(&s3, &log_key(7)).await;
    let prefix = format!("{}-", unique("digests-logs"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    // With findings on: each problem is also a finding of the trail.
    let findings = format!("findings-{prefix}");
    let (out, report) = trail.validate_with(&prefix, dir.path(), FINGERPRINT, Some(&findings));
    only_problems(
        &out,
        &report,
        &[
            ("missing", trail.url(&log_key(7))),
            ("altered", trail.url(&log_key(5))),
        ],
    );
    assert_eq!(report["validated"], HOURS as u64, "{report}");
    assert_eq!(report["log_files_valid"], HOURS as u64 - 2, "{report}");
    // What is there is indexed all the same: the report is about trust, not about reading.
    assert_eq!(stack.count(&prefix).await, HOURS as u64 - 1);
    let written = |docs: Vec<Value>| -> Vec<(String, String, String, String)> {
        let mut out: Vec<_> = docs
            .iter()
            .map(|d| {
                let text = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
                (
                    text("kind"),
                    text("value"),
                    text("severity"),
                    text("identity"),
                )
            })
            .collect();
        out.sort();
        out
    };
    let trail_url = format!("s3://{}/trail/", trail.bucket);
    let expected = vec![
        (
            "log_file_altered".to_owned(),
            trail.url(&log_key(5)),
            "high".to_owned(),
            trail_url.clone(),
        ),
        (
            "log_file_missing".to_owned(),
            trail.url(&log_key(7)),
            "high".to_owned(),
            trail_url.clone(),
        ),
    ];
    assert_eq!(written(stack.all_docs(&findings).await), expected);
    // Validated again: the same problems, no second finding.
    let (out, _) = trail.validate_with(&prefix, dir.path(), FINGERPRINT, Some(&findings));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(written(stack.all_docs(&findings).await), expected);
    stack.cleanup(&findings).await;
    stack.cleanup(&prefix).await;
}

#[tokio::test]
async fn a_broken_chain_is_reported_by_name() {
    let s3 = s3::client();
    // Hour 12's digest names a previous signature that is not hour 11's (and is validly signed:
    // only the chain shows it).
    let trail = Trail::write(&s3, |hour, digest| {
        if hour == 12 {
            digest["previousDigestSignature"] = json!("00ff".repeat(128));
        }
    })
    .await;
    let prefix = format!("{}-", unique("digests-chain"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = trail.validate(&prefix, dir.path(), FINGERPRINT);
    only_problems(&out, &report, &[("unchained", trail.url(&digest_key(12)))]);
    assert_eq!(report["validated"], HOURS as u64, "{report}");
    Stack::connect().await.cleanup(&prefix).await;
}

#[tokio::test]
async fn a_deleted_digest_a_forged_one_and_an_unknown_key_are_reported() {
    let s3 = s3::client();
    let trail = Trail::write(&s3, |_, _| {}).await;
    // Hour 3's digest deleted: hour 4's names a previous digest that is gone, hour 3's log file
    // is listed by no digest.
    trail.delete(&s3, &digest_key(3)).await;
    // Hour 9's digest rewritten (its log file's hash replaced) under its old signature.
    let forged = {
        let body = s3
            .get_object()
            .bucket(&trail.bucket)
            .key(digest_key(9))
            .send()
            .await
            .unwrap();
        let signature = body.metadata().unwrap()["signature"].clone();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        let mut digest: Value = serde_json::from_str(&text).unwrap();
        digest["logFiles"][0]["hashValue"] = json!("0".repeat(64));
        (serde_json::to_vec(&digest).unwrap(), signature)
    };
    trail
        .put(&s3, &digest_key(9), gzip(&forged.0), Some(&forged.1))
        .await;
    let prefix = format!("{}-", unique("digests-forged"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = trail.validate(&prefix, dir.path(), FINGERPRINT);
    only_problems(
        &out,
        &report,
        &[
            ("missing", trail.url(&digest_key(3))),
            ("bad_signature", trail.url(&digest_key(9))),
            ("not_covered", trail.url(&log_key(3))),
            ("not_covered", trail.url(&log_key(9))),
        ],
    );
    assert_eq!(report["validated"], HOURS as u64 - 2, "{report}");

    // The keys file of another period: no key for the digests' fingerprint, every digest said.
    let (out, report) = trail.validate(&prefix, dir.path(), "0123456789abcdef0123456789abcdef");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(report["validated"], 0, "{report}");
    assert_eq!(names(&report, "no_key").len(), HOURS - 1, "{report}");
    assert_eq!(names(&report, "not_covered").len(), HOURS, "{report}");
    Stack::connect().await.cleanup(&prefix).await;
}

#[test]
fn a_keys_file_that_is_not_list_public_keys_fails_at_once_naming_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, "{\"Keys\": []}").unwrap();
    let out = trailscope(&[
        "ingest",
        "--opensearch-url",
        "http://127.0.0.1:9",
        "--validate-digests",
        "--digest-public-keys",
        keys.to_str().unwrap(),
        "s3://no-such-bucket/trail",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("aws cloudtrail list-public-keys"),
        "{stderr}"
    );
    // --validate-digests without keys is refused by the command line itself.
    let out = trailscope(&["ingest", "--validate-digests", "s3://b/trail"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--digest-public-keys"));
}
