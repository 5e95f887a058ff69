//! moto's S3 for the tests of `ingest s3://`, digests and `forward --sqs-queue-url`: a client,
//! buckets with unique names, objects put whole, CloudTrail's gzip.

use super::{cloudwatch_url, unique};
use aws_sdk_s3::primitives::ByteStream;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// A client of moto's S3 (path-style: moto has no per-bucket host names).
pub fn client() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(cloudwatch_url())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// CloudTrail writes its log files gzipped.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A new bucket named after `name`, unique to this test.
pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str) -> String {
    let bucket = unique(name).to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}
