//! A fake OpenSearch for the answers a real node will not give on demand (413, garbage, a body
//! that never ends, a connection cut mid-body): a plain HTTP/1.1 server on 127.0.0.1:0. `GET /`
//! and the index template check answer as a current node would; every `_bulk` request is handed
//! to the test's script, which says what to answer.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One `_bulk` request as received (decompressed).
#[derive(Debug, Clone)]
pub struct BulkRequest {
    /// Which request this is, from 0.
    pub n: usize,
    /// Its documents, one JSON text each (action lines left out).
    pub documents: Vec<String>,
    /// Its body's length, uncompressed.
    pub bytes: usize,
}

/// What the fake answers to one `_bulk` request.
pub enum Answer {
    /// This status and body, whole.
    Status(u16, String),
    /// 200 with this body, whole (garbage, or a bulk response of the test's making).
    Body(String),
    /// `201 Created` for every item, in a real response's shape (`errors`, `items`).
    AllCreated,
    /// 200 announcing `content-length: 1000`, then these bytes, then the connection is closed.
    CutMidBody(String),
    /// 200 announcing `content-length: 1000`, then these bytes, then nothing, ever.
    NeverEnds(String),
}

pub type Script = dyn Fn(&BulkRequest) -> Answer + Send + Sync;

pub struct FakeOpenSearch {
    pub url: String,
    /// Every `_bulk` request received, in order.
    pub requests: Arc<Mutex<Vec<BulkRequest>>>,
}

impl FakeOpenSearch {
    /// Serves `prefix`'s index template as installed and answers `_bulk` with `script`.
    pub async fn start(
        prefix: &str,
        script: impl Fn(&BulkRequest) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let template = serde_json::json!({"index_templates": [{
            "name": trailscope::commands::setup::template_name(prefix),
            "index_template": trailscope::commands::setup::template_for(prefix),
        }]})
        .to_string();
        let script: Arc<Script> = Arc::new(script);
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (script, seen, template) = (script.clone(), seen.clone(), template.clone());
                tokio::spawn(serve(stream, script, seen, template));
            }
        });
        FakeOpenSearch { url, requests }
    }

    pub fn bulk_requests(&self) -> Vec<BulkRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// A bulk response with one item per document, each with the status (and error) `item` gives.
pub fn bulk_response(
    request: &BulkRequest,
    errors: Option<bool>,
    item: impl Fn(usize) -> String,
) -> String {
    let items: Vec<String> = (0..request.documents.len()).map(item).collect();
    match errors {
        Some(e) => format!(
            "{{\"took\":1,\"errors\":{e},\"items\":[{}]}}",
            items.join(",")
        ),
        None => format!("{{\"took\":1,\"items\":[{}]}}", items.join(",")),
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<BulkRequest>>>,
    template: String,
) {
    let mut buf = Vec::new();
    loop {
        // The head, then content-length bytes of body (the client sends no chunked bodies).
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 16 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let length: usize = header("content-length:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 64 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        let body: Vec<u8> = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let request_line = head.lines().next().unwrap_or("").to_owned();
        let answer = if request_line.starts_with("post /_bulk") {
            let body = if header("content-encoding:").as_deref() == Some("gzip") {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut plain)
                    .expect("a gzip body");
                plain
            } else {
                body
            };
            let text = String::from_utf8(body).expect("a UTF-8 body");
            let request = {
                let mut seen = seen.lock().unwrap();
                let request = BulkRequest {
                    n: seen.len(),
                    documents: text
                        .lines()
                        .filter(|l| !l.is_empty())
                        .skip(1)
                        .step_by(2)
                        .map(str::to_owned)
                        .collect(),
                    bytes: text.len(),
                };
                seen.push(request.clone());
                request
            };
            script(&request)
        } else if request_line.starts_with("get /_index_template/") {
            Answer::Body(template.clone())
        } else if request_line.starts_with("get / ") {
            Answer::Body(
                r#"{"name":"fake","version":{"distribution":"opensearch","number":"2.19.1"}}"#
                    .into(),
            )
        } else {
            Answer::Status(
                404,
                format!(r#"{{"error":"the fake does not serve {request_line}"}}"#),
            )
        };
        let written = match answer {
            Answer::Status(status, body) => write_whole(&mut stream, status, &body).await,
            Answer::Body(body) => write_whole(&mut stream, 200, &body).await,
            Answer::AllCreated => {
                let request = seen
                    .lock()
                    .unwrap()
                    .last()
                    .cloned()
                    .expect("a bulk request");
                let body = bulk_response(&request, Some(false), |_| {
                    r#"{"create":{"status":201}}"#.into()
                });
                write_whole(&mut stream, 200, &body).await
            }
            Answer::CutMidBody(part) => {
                let _ = write_part(&mut stream, &part).await;
                return;
            }
            Answer::NeverEnds(part) => {
                let _ = write_part(&mut stream, &part).await;
                // Holds the connection open far longer than any test runs.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

async fn write_whole(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} Fake\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

async fn write_part(stream: &mut TcpStream, part: &str) -> std::io::Result<()> {
    assert!(part.len() < 1000);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(part.as_bytes()).await?;
    stream.flush().await
}
