//! SigV4 signing for Amazon OpenSearch Service (`es`) and Serverless (`aoss`). No AWS endpoint is
//! reachable here, so a loopback listener stands in for the domain and records what trailscope
//! sends: the signature's shape (key id, date, region, service) is what AWS checks first.

mod common;

use common::trailscope_cmd;
use std::io::{Read, Write};
use std::net::TcpListener;

/// Answers every request with 401 (as a domain does for a key it does not know) and returns the
/// head of the first request.
fn capture_one() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = r#"{"message":"The security token included in the request is invalid."}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&buf).to_lowercase()
    });
    (url, handle)
}

fn signed_request(service: &str) -> (String, String) {
    let (url, server) = capture_one();
    let out = trailscope_cmd(&[
        "setup",
        "--opensearch-url",
        &url,
        "--aws-sigv4",
        service,
        "--aws-sigv4-region",
        "eu-west-1",
    ])
    .env("AWS_ACCESS_KEY_ID", "AKIDSIGV4TESTKEY")
    .env("AWS_SECRET_ACCESS_KEY", "Recognisable-Secret-Key-Sigv4")
    .env_remove("AWS_SESSION_TOKEN")
    .output()
    .unwrap();
    let head = server.join().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a 401 must fail: {printed}");
    assert!(
        !printed.contains("Recognisable-Secret-Key-Sigv4"),
        "{printed}"
    );
    assert!(!head.contains("recognisable-secret-key-sigv4"), "{head}");
    (head, printed)
}

#[test]
fn requests_are_signed_for_opensearch_service() {
    let (head, printed) = signed_request("es");
    assert!(
        head.contains("authorization: aws4-hmac-sha256 credential=akidsigv4testkey/"),
        "{head}"
    );
    assert!(head.contains("/eu-west-1/es/aws4_request"), "{head}");
    assert!(head.contains("x-amz-date:"), "{head}");
    assert!(!head.contains("authorization: basic"), "{head}");
    assert!(printed.contains("refused the credentials"), "{printed}");
}

#[test]
fn requests_are_signed_for_serverless_with_a_payload_hash() {
    let (head, _) = signed_request("aoss");
    assert!(head.contains("/eu-west-1/aoss/aws4_request"), "{head}");
    // OpenSearch Serverless requires the payload hash header.
    assert!(head.contains("x-amz-content-sha256:"), "{head}");
}

#[test]
fn a_missing_region_is_a_clear_error() {
    let out = trailscope_cmd(&[
        "setup",
        "--opensearch-url",
        "http://127.0.0.1:9",
        "--aws-sigv4",
        "es",
    ])
    .env_remove("AWS_REGION")
    .env_remove("AWS_DEFAULT_REGION")
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--aws-sigv4 needs the domain's region"),
        "{err}"
    );
}
