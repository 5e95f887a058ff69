//! Deterministic synthetic CloudTrail records for tests: varied names, sources, regions, keys,
//! user agents and errors, each with a unique eventID.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub const CALLS: [(&str, &str, bool); 8] = [
    ("ec2.amazonaws.com", "DescribeInstances", true),
    ("s3.amazonaws.com", "ListBuckets", true),
    ("s3.amazonaws.com", "PutObject", false),
    ("iam.amazonaws.com", "ListUsers", true),
    ("ssm.amazonaws.com", "SendCommand", false),
    ("sts.amazonaws.com", "GetCallerIdentity", true),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        false,
    ),
    ("kms.amazonaws.com", "Decrypt", true),
];
pub const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-northeast-1", "us-west-2"];
pub const AGENTS: [&str; 4] = [
    "aws-sdk-ruby/1.67.0 ruby/2.4.2 x86_64-linux memoizing",
    "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.1",
    "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0-14-generic exe/x86_64.ubuntu.22 prompt/off command/s3.ls",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.47.7",
];

pub fn access_key(i: usize) -> String {
    format!("AKIATEST{:012}", i % 20)
}

pub fn event_id(seed: u32, i: usize) -> String {
    format!("{seed:08x}-0000-4000-8000-{i:012x}")
}

/// Record `i` of a set, at `start + i * step_ms` (CloudTrail writes whole seconds).
pub fn record(seed: u32, i: usize, time: DateTime<Utc>) -> Value {
    let (source, name, read_only) = CALLS[i % CALLS.len()];
    let key = access_key(i);
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": format!("AIDATEST{:012}", i % 20),
            "arn": format!("arn:aws:iam::111122223333:user/user-{}", i % 20),
            "accountId": "111122223333",
            "accessKeyId": key,
            "userName": format!("user-{}", i % 20)
        },
        "eventTime": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGIONS[i % REGIONS.len()],
        "sourceIPAddress": format!("198.51.100.{}", i % 250),
        "userAgent": AGENTS[i % AGENTS.len()],
        "requestParameters": {"n": i, "name": format!("thing-{}", i % 7)},
        "responseElements": null,
        "requestID": format!("req-{seed}-{i}"),
        "eventID": event_id(seed, i),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    });
    if i.is_multiple_of(13) {
        r["errorCode"] = json!("AccessDenied");
        r["errorMessage"] = json!("not authorized");
    }
    r
}

/// `n` records spaced `step_ms` apart from `start`, as (log event timestamp ms, message).
pub fn events(seed: u32, n: usize, start: DateTime<Utc>, step_ms: i64) -> Vec<(i64, String)> {
    (0..n)
        .map(|i| {
            let t = start + chrono::Duration::milliseconds(step_ms * i as i64);
            (t.timestamp_millis(), record(seed, i, t).to_string())
        })
        .collect()
}
