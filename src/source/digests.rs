//! CloudTrail log file integrity validation (`ingest s3://... --validate-digests`).
//!
//! With validation on, a trail writes every hour a digest file under `CloudTrail-Digest/` (same
//! layout as the log files) listing the log files it delivered in that hour with the SHA-256 of
//! each, and the signature of the previous digest; the digest's own signature is in the S3
//! object's metadata (`x-amz-meta-signature`, hex). What is checked, as AWS specifies it
//! ("Validating CloudTrail log file integrity with custom implementations",
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html>,
//! and "CloudTrail digest file structure",
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html>):
//!
//! - the signature: SHA256withRSA (PKCS#1 v1.5) over the string
//!   `digestEndTime \n digestS3Bucket/digestS3Object \n hex(SHA-256(uncompressed digest)) \n
//!   previousDigestSignature` (the literal `null` for a trail's first digest), verified with the
//!   region's public key whose fingerprint the digest names (`digestPublicKeyFingerprint`); the
//!   key is the PKCS#1 `RSAPublicKey` DER that `aws cloudtrail list-public-keys` gives in base64;
//! - the digest is where CloudTrail wrote it (`digestS3Bucket`/`digestS3Object`);
//! - the chain: `previousDigestSignature` is the previous digest's signature;
//! - each log file listed: the SHA-256 of its **uncompressed** content is `hashValue`.
//!
//! The AWS CLI's `validate-logs` builds the same string (awscli `customizations/cloudtrail/
//! validation.py`), which is how the hash of the uncompressed digest and `null` were confirmed.

use super::s3::{self, LogObject, S3Error, S3Location, Selection, TrailFolder};
use aws_sdk_s3::Client;
use base64::Engine;
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A digest is a few KB; more than this uncompressed is not one.
const MAX_DIGEST_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read the public keys file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not the output of `aws cloudtrail list-public-keys` ({reason}): save it with \
         `aws cloudtrail list-public-keys --start-time ... --output json > FILE`"
    )]
    Format { path: PathBuf, reason: String },
}

/// The region's CloudTrail public keys, by fingerprint (hex), as DER `RSAPublicKey`.
#[derive(Debug, Default)]
pub struct PublicKeys(HashMap<String, Vec<u8>>);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyList {
    public_key_list: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyEntry {
    value: String,
    fingerprint: String,
}

impl PublicKeys {
    pub fn from_file(path: &Path) -> Result<PublicKeys, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: path.to_owned(),
            source,
        })?;
        PublicKeys::parse(&text).map_err(|reason| KeysError::Format {
            path: path.to_owned(),
            reason,
        })
    }

    /// The JSON of `aws cloudtrail list-public-keys`: `{"PublicKeyList": [{"Value": base64,
    /// "Fingerprint": hex, "ValidityStartTime", "ValidityEndTime"}]}`. The validity times are not
    /// needed: the digest names its key by fingerprint.
    pub fn parse(text: &str) -> Result<PublicKeys, String> {
        let list: KeyList = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for entry in list.public_key_list {
            let der = base64::engine::general_purpose::STANDARD
                .decode(entry.value.trim())
                .map_err(|e| format!("the key {} is not base64: {e}", entry.fingerprint))?;
            keys.insert(entry.fingerprint.to_ascii_lowercase(), der);
        }
        if keys.is_empty() {
            return Err("PublicKeyList is empty".to_owned());
        }
        Ok(PublicKeys(keys))
    }

    fn get(&self, fingerprint: &str) -> Option<&[u8]> {
        self.0
            .get(&fingerprint.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

/// What validation found. Every object is named `s3://bucket/key`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DigestReport {
    /// Digests whose signature verified.
    pub validated: u64,
    /// Log files whose content is what a validated digest says.
    pub log_files_valid: u64,
    /// Log files a validated digest lists, and previous digests a digest names, that do not exist.
    pub missing: Vec<String>,
    /// Log files whose content is not what the digest listing them says.
    pub altered: Vec<String>,
    /// Digests whose `previousDigestSignature` is not the previous digest's signature.
    pub unchained: Vec<String>,
    /// Digests without a signature, with one that does not verify, moved from where CloudTrail
    /// wrote them, or unreadable as a digest.
    pub bad_signature: Vec<String>,
    /// Digests signed with a key whose fingerprint is not in the public keys file.
    pub no_key: Vec<String>,
    /// Log files in the window that no validated digest lists.
    pub not_covered: Vec<String>,
}

impl DigestReport {
    /// Problems found, all kinds together.
    pub fn problems(&self) -> usize {
        self.missing.len()
            + self.altered.len()
            + self.unchained.len()
            + self.bad_signature.len()
            + self.no_key.len()
            + self.not_covered.len()
    }

    /// One problem: a log line now, an entry of the summary later.
    fn report(&mut self, kind: Problem, object: String, reason: &str) {
        tracing::error!(object = %object, problem = %kind.name(), "integrity: {reason}");
        match kind {
            Problem::Missing => self.missing.push(object),
            Problem::Altered => self.altered.push(object),
            Problem::Unchained => self.unchained.push(object),
            Problem::BadSignature => self.bad_signature.push(object),
            Problem::NoKey => self.no_key.push(object),
            Problem::NotCovered => self.not_covered.push(object),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Problem {
    Missing,
    Altered,
    Unchained,
    BadSignature,
    NoKey,
    NotCovered,
}

impl Problem {
    fn name(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Altered => "altered",
            Problem::Unchained => "unchained",
            Problem::BadSignature => "bad_signature",
            Problem::NoKey => "no_key",
            Problem::NotCovered => "not_covered",
        }
    }
}

/// The fields of a digest file that validation uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub digest_end_time: String,
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    #[serde(rename = "previousDigestS3Bucket", default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(rename = "previousDigestS3Object", default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    #[serde(rename = "s3Bucket")]
    pub s3_bucket: String,
    #[serde(rename = "s3Object")]
    pub s3_object: String,
    pub hash_value: String,
}

/// The string CloudTrail signs for a digest (see the module's documentation).
pub fn string_to_sign(digest: &DigestFile, uncompressed: &[u8]) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        digest.digest_end_time,
        digest.digest_s3_bucket,
        digest.digest_s3_object,
        hex::encode(Sha256::digest(uncompressed)),
        digest
            .previous_digest_signature
            .as_deref()
            .unwrap_or("null")
    )
}

/// Whether `signature` (raw bytes) is `public_key`'s (DER `RSAPublicKey`) over `message` with
/// SHA256withRSA.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(message, signature)
        .is_ok()
}

/// SHA-256 (hex) of the gunzipped content, streamed: a log file is never held uncompressed.
fn gunzipped_sha256(compressed: &[u8]) -> std::io::Result<String> {
    let mut reader = flate2::read::MultiGzDecoder::new(compressed);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

fn gunzip_digest(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(MAX_DIGEST_BYTES)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// A digest as read: where, its signature (from the object's metadata), and whether it verified.
struct ReadDigest {
    url: String,
    signature: Option<String>,
    file: Option<DigestFile>,
    signed: bool,
}

/// Validates the digests of the trail at `location` in `selection`'s window and the log files
/// they list, and reports the log files of `logs` (the window's, as listed) that none covers.
///
/// Digests are read for the window and the day after it: a log file delivered before midnight
/// is listed by the first digest after it.
pub async fn validate(
    client: &Client,
    location: &S3Location,
    selection: &Selection,
    logs: &[LogObject],
    keys: &PublicKeys,
    budget: &s3::Budget,
) -> Result<DigestReport, S3Error> {
    let started = std::time::Instant::now();
    let mut digest_window = selection.clone();
    digest_window.until = selection.until.map(|t| t + chrono::Duration::days(1));
    let (objects, listed) = s3::list_objects(
        client,
        location,
        &digest_window,
        &[TrailFolder::Digests],
        budget,
    )
    .await?;
    tracing::info!(
        list_requests = listed.list_requests,
        digests = listed.objects,
        "listed the digest files"
    );
    let mut report = DigestReport::default();
    let mut read = Vec::with_capacity(objects.len());
    // A month of one region is 720 digests: fetched within the backfill's request budget (its
    // concurrency, its rate, S3's SlowDown waited out), checked in key order.
    let mut bodies = futures::stream::iter(objects.iter().map(|object| async move {
        let got = budget
            .call("GetObject", || {
                s3::get_object_with_metadata(client, &location.bucket, &object.key)
            })
            .await;
        (object, got)
    }))
    .buffered(budget.concurrency());
    while let Some((object, got)) = bodies.next().await {
        let (body, metadata) = got?;
        read.push(check_digest(
            &mut report,
            keys,
            &location.bucket,
            &object.key,
            &body,
            &metadata,
        ));
    }
    drop(bodies);
    check_chain(client, budget, &mut report, &read).await?;
    let covered = check_log_files(client, budget, &mut report, &read).await?;
    for log in logs {
        let url = location.object_url(&log.key);
        if !covered.contains(&url) {
            report.report(
                Problem::NotCovered,
                url,
                "no validated digest lists this log file",
            );
        }
    }
    tracing::info!(
        validated = report.validated,
        log_files_valid = report.log_files_valid,
        problems = report.problems(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "digests checked"
    );
    Ok(report)
}

/// Reads one digest and checks where it is and its signature.
fn check_digest(
    report: &mut DigestReport,
    keys: &PublicKeys,
    bucket: &str,
    key: &str,
    body: &[u8],
    metadata: &HashMap<String, String>,
) -> ReadDigest {
    let url = format!("s3://{bucket}/{key}");
    let signature = metadata.get("signature").cloned();
    let mut digest = ReadDigest {
        url: url.clone(),
        signature: signature.clone(),
        file: None,
        signed: false,
    };
    let uncompressed = match gunzip_digest(body) {
        Ok(u) => u,
        Err(e) => {
            report.report(Problem::BadSignature, url, &format!("not a gzip file: {e}"));
            return digest;
        }
    };
    let file: DigestFile = match serde_json::from_slice(&uncompressed) {
        Ok(f) => f,
        Err(e) => {
            report.report(
                Problem::BadSignature,
                url,
                &format!("not a CloudTrail digest file: {e}"),
            );
            return digest;
        }
    };
    let problem = if file.digest_s3_bucket != bucket || file.digest_s3_object != key {
        Some((
            Problem::BadSignature,
            format!(
                "moved: CloudTrail wrote it as s3://{}/{}",
                file.digest_s3_bucket, file.digest_s3_object
            ),
        ))
    } else if let Some(algorithm) = metadata
        .get("signature-algorithm")
        .filter(|a| a.as_str() != "SHA256withRSA")
    {
        Some((
            Problem::BadSignature,
            format!("signed with {algorithm}, not SHA256withRSA"),
        ))
    } else {
        match (
            signature.as_deref().map(hex::decode),
            keys.get(&file.digest_public_key_fingerprint),
        ) {
            (None, _) => Some((
                Problem::BadSignature,
                "unsigned: the object has no x-amz-meta-signature".to_owned(),
            )),
            (Some(Err(_)), _) => Some((
                Problem::BadSignature,
                "its x-amz-meta-signature is not hex".to_owned(),
            )),
            (Some(Ok(_)), None) => Some((
                Problem::NoKey,
                format!(
                    "no public key with fingerprint {} in --digest-public-keys (list the keys \
                     of the digest's time and region again)",
                    file.digest_public_key_fingerprint
                ),
            )),
            (Some(Ok(signature)), Some(public_key)) => {
                let message = string_to_sign(&file, &uncompressed);
                if verify_signature(public_key, message.as_bytes(), &signature) {
                    None
                } else {
                    Some((
                        Problem::BadSignature,
                        "the signature does not verify: the digest or its signature was changed"
                            .to_owned(),
                    ))
                }
            }
        }
    };
    match problem {
        Some((kind, reason)) => report.report(kind, url, &reason),
        None => {
            report.validated += 1;
            digest.signed = true;
        }
    }
    digest.file = Some(file);
    digest
}

/// Each digest's `previousDigestSignature` against the previous digest's signature; a previous
/// digest outside the window is read for it, and one that does not exist is reported missing.
async fn check_chain(
    client: &Client,
    budget: &s3::Budget,
    report: &mut DigestReport,
    digests: &[ReadDigest],
) -> Result<(), S3Error> {
    let signatures: HashMap<&str, Option<&str>> = digests
        .iter()
        .map(|d| (d.url.as_str(), d.signature.as_deref()))
        .collect();
    let mut missing_reported = HashSet::new();
    for digest in digests {
        let Some(file) = &digest.file else { continue };
        let (previous, claimed) = match (
            &file.previous_digest_s3_bucket,
            &file.previous_digest_s3_object,
            &file.previous_digest_signature,
        ) {
            // A trail's first digest (or the first after logging was stopped).
            (_, None, None) => continue,
            (Some(bucket), Some(key), Some(signature)) => {
                (format!("s3://{bucket}/{key}"), signature.as_str())
            }
            _ => {
                report.report(
                    Problem::Unchained,
                    digest.url.clone(),
                    "names its previous digest only in part (bucket, object and signature go together)",
                );
                continue;
            }
        };
        let actual = match signatures.get(previous.as_str()) {
            Some(signature) => signature.map(str::to_owned),
            None => {
                let (bucket, key) = previous
                    .strip_prefix("s3://")
                    .and_then(|p| p.split_once('/'))
                    .unwrap_or_default();
                let got = budget
                    .call("GetObject", || {
                        s3::get_object_with_metadata(client, bucket, key)
                    })
                    .await;
                match got {
                    Ok((_, metadata)) => metadata.get("signature").cloned(),
                    Err(e) if e.is_missing() => {
                        if missing_reported.insert(previous.clone()) {
                            report.report(
                                Problem::Missing,
                                previous.clone(),
                                &format!("the previous digest of {} does not exist", digest.url),
                            );
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if actual.as_deref() != Some(claimed) {
            report.report(
                Problem::Unchained,
                digest.url.clone(),
                &format!("its previousDigestSignature is not the signature of {previous}"),
            );
        }
    }
    Ok(())
}

/// Hashes every log file the validated digests list; returns the URLs of those listed.
async fn check_log_files(
    client: &Client,
    budget: &s3::Budget,
    report: &mut DigestReport,
    digests: &[ReadDigest],
) -> Result<HashSet<String>, S3Error> {
    let entries: BTreeSet<(String, String, String)> = digests
        .iter()
        .filter(|d| d.signed)
        .filter_map(|d| d.file.as_ref())
        .flat_map(|f| &f.log_files)
        .map(|l| {
            (
                l.s3_bucket.clone(),
                l.s3_object.clone(),
                l.hash_value.to_ascii_lowercase(),
            )
        })
        .collect();
    let covered = entries
        .iter()
        .map(|(bucket, key, _)| format!("s3://{bucket}/{key}"))
        .collect();
    let mut results = futures::stream::iter(entries.into_iter().map(|(bucket, key, expected)| {
        let (client, budget) = (client.clone(), budget.clone());
        async move {
            let body = s3::get_object_within(&client, &bucket, &key, &budget).await;
            (format!("s3://{bucket}/{key}"), expected, body)
        }
    }))
    .buffered(budget.concurrency());
    while let Some((url, expected, body)) = results.next().await {
        let body = match body {
            Ok(body) => body,
            Err(e) if e.is_missing() => {
                report.report(
                    Problem::Missing,
                    url,
                    "a validated digest lists this log file; it does not exist",
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        match gunzipped_sha256(&body) {
            Ok(hash) if hash == expected => report.log_files_valid += 1,
            Ok(_) => report.report(
                Problem::Altered,
                url,
                "its SHA-256 is not the one its digest lists: it was changed after delivery",
            ),
            Err(e) => report.report(
                Problem::Altered,
                url,
                &format!("not the gzip file its digest lists: {e}"),
            ),
        }
    }
    Ok(covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_digest_signs_null_as_its_previous_signature() {
        let file: DigestFile = serde_json::from_str(
            r#"{"digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"b",
            "digestS3Object":"AWSLogs/1/CloudTrail-Digest/d.json.gz",
            "digestPublicKeyFingerprint":"ab","previousDigestSignature":null,"logFiles":[]}"#,
        )
        .unwrap();
        assert_eq!(
            string_to_sign(&file, b""),
            "2015-08-17T15:01:31Z\nb/AWSLogs/1/CloudTrail-Digest/d.json.gz\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nnull"
        );
    }

    #[test]
    fn keys_are_found_by_fingerprint_and_a_wrong_file_says_what_it_wants() {
        let keys = PublicKeys::parse(
            r#"{"PublicKeyList":[{"Value":"AQID","ValidityStartTime":"2024-01-01T00:00:00Z",
            "ValidityEndTime":"2025-01-01T00:00:00Z","Fingerprint":"31E8"}]}"#,
        )
        .unwrap();
        assert_eq!(keys.get("31e8"), Some(&[1u8, 2, 3][..]));
        assert!(keys.get("ffff").is_none());
        assert!(PublicKeys::parse(r#"{"PublicKeyList":[]}"#).is_err());
        assert!(PublicKeys::parse(r#"{"Keys":[]}"#).is_err());
    }

    #[test]
    fn a_log_file_is_hashed_uncompressed() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"Records\":[]}").unwrap();
        let compressed = gz.finish().unwrap();
        assert_eq!(
            gunzipped_sha256(&compressed).unwrap(),
            hex::encode(Sha256::digest(b"{\"Records\":[]}"))
        );
    }
}
