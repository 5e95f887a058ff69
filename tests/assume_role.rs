//! `forward --role-arn`: CloudWatch Logs is read with credentials assumed through STS (moto's STS
//! here), and a refused role stops the run at start with the authentication exit code.

mod common;

use common::synthetic;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy to `upstream` that keeps a copy of every request byte, to see how requests were signed.
async fn recording_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let server = TcpStream::connect(upstream).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            let _ = sw.shutdown().await;
                            break;
                        }
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = tokio::io::copy(&mut sr, &mut cw);
                let _ = tokio::join!(up, down);
            });
        }
    });
    (addr, seen)
}

/// An STS that refuses every AssumeRole as AWS does for a role that does not trust the caller.
async fn refusing_sts() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = s.read(&mut buf).await;
                let body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                    <Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: \
                    arn:aws:iam::111122223333:user/forwarder is not authorized to perform: \
                    sts:AssumeRole on resource: arn:aws:iam::444455556666:role/reader</Message>\
                    </Error><RequestId>r-1</RequestId></ErrorResponse>";
                let response = format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_reads_cloudwatch_with_the_assumed_role() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("assume"));
    let prefix = format!("{}-", unique("t-assume"));
    let dir = tempfile::tempdir().unwrap();
    let events = synthetic::events(
        0xA55,
        40,
        chrono::Utc::now() - chrono::Duration::hours(1),
        1_000,
    );
    stack.put_events(&group, 1, &events).await;
    setup(&prefix);
    let moto: SocketAddr = cloudwatch_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let (proxy, seen) = recording_proxy(moto).await;
    let os = opensearch_url();
    let endpoint = format!("http://{proxy}");
    // moto's default account holds the log group; a role of another account sees that account.
    let base = |role: &str, checkpoint: &str| {
        vec![
            "forward".to_owned(),
            "--once".into(),
            "--log-group".into(),
            group.clone(),
            "--opensearch-url".into(),
            os.clone(),
            "--endpoint-url".into(),
            endpoint.clone(),
            "--index-prefix".into(),
            prefix.clone(),
            "--checkpoint-file".into(),
            dir.path().join(checkpoint).to_str().unwrap().into(),
            "--dead-letter-file".into(),
            dir.path().join("dead.ndjson").to_str().unwrap().into(),
            "--role-arn".into(),
            role.into(),
            "--external-id".into(),
            "ext-1234".into(),
        ]
    };
    let args = base("arn:aws:iam::123456789012:role/reader", "checkpoint.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trailscope_cmd(&args)
        .env("AWS_ENDPOINT_URL_STS", cloudwatch_url())
        .output()
        .unwrap();
    let summary: Value = serde_json::from_str(ok(out).lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], 40, "{summary}");
    assert_eq!(stack.count(&prefix).await, 40);
    // Every CloudWatch Logs request went through the proxy signed with moto's temporary
    // credentials (ASIA...), none with the chain's own key ("testing").
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let signed: Vec<&str> = seen
        .match_indices("Credential=")
        .map(|(i, _)| &seen[i + 11..(i + 15).min(seen.len())])
        .collect();
    assert!(!signed.is_empty(), "no signed request seen: {seen}");
    assert!(
        signed.iter().all(|k| *k == "ASIA"),
        "requests signed with {signed:?}"
    );
    assert!(seen.contains("X-Amz-Security-Token") || seen.contains("x-amz-security-token"));

    // A role in another account: moto keeps log groups per account and knows the account from
    // the temporary credentials, so the group is not there — the role really was used.
    let args = base("arn:aws:iam::444455556666:role/reader", "elsewhere.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trailscope_cmd(&args)
        .env("AWS_ENDPOINT_URL_STS", cloudwatch_url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    // A role STS refuses: exit 3 at start, with STS's answer.
    let sts = refusing_sts().await;
    let args = base("arn:aws:iam::444455556666:role/reader", "other.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trailscope_cmd(&args)
        .env("AWS_ENDPOINT_URL_STS", format!("http://{sts}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot assume role arn:aws:iam::444455556666:role/reader")
            && stderr.contains("AccessDenied"),
        "{stderr}"
    );
    stack.cleanup(&prefix).await;
}
