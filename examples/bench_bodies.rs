//! For `scripts/bench.sh`: writes the `_bulk` bodies trailscope would send for an NDJSON file of
//! CloudTrail records, so that a minimal client can post exactly the same documents (the raw
//! ceiling of OpenSearch on this machine).
//!
//! `cargo run --release --example bench_bodies -- IN.ndjson OUT.bin INDEX_PREFIX [BATCH_EVENTS]`
//!
//! With `TRAILSCOPE_PAYLOADS=both` in the environment, the documents keep the text copy of every
//! payload (`--payloads both`): scripts/doc-cost.sh derives its other shapes from those.
//!
//! OUT.bin: for each batch, its gzip body (the sink's fast level) preceded by its length as a
//! decimal line: `<len>\n<bytes>`. Batches are cut as the sink cuts them (5 MiB or BATCH_EVENTS).

use std::io::{BufRead, Write};
use std::sync::Arc;
use trailscope::enrich::Enricher;
use trailscope::event::encode::Encoder;
use trailscope::event::filter::Filter;
use trailscope::sink::bulk::BulkBatch;
use trailscope::source::{Origin, RawEvent};

const BATCH_BYTES: usize = 5 * 1024 * 1024;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bench_bodies IN.ndjson OUT.bin INDEX_PREFIX [BATCH_EVENTS]");
        std::process::exit(2);
    }
    let batch_events: usize = args.get(4).map_or(5000, |v| v.parse().expect("a number"));
    let mut encoder = Encoder::new(Enricher::default(), args[3].clone(), Filter::default());
    if std::env::var("TRAILSCOPE_PAYLOADS").as_deref() == Ok("both") {
        encoder = encoder.with_payload_text();
    }
    let input = std::io::BufReader::new(std::fs::File::open(&args[1])?);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[2])?);
    let path: Arc<str> = Arc::from(args[1].as_str());
    let (mut batches, mut events) = (0usize, 0usize);
    let mut batch = BulkBatch::default();
    let mut flush = |batch: &mut BulkBatch, out: &mut dyn Write| -> std::io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(batch.body())?;
        let gz = gz.finish()?;
        writeln!(out, "{}", gz.len())?;
        out.write_all(&gz)?;
        batches += 1;
        *batch = BulkBatch::default();
        Ok(())
    };
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = RawEvent {
            message: line,
            origin: Origin::File {
                path: path.clone(),
                record: n as u64 + 1,
            },
        };
        if encoder.encode(&mut batch, event).is_ok() {
            events += 1;
        }
        if batch.byte_len() >= BATCH_BYTES || batch.len() >= batch_events {
            flush(&mut batch, &mut out)?;
        }
    }
    flush(&mut batch, &mut out)?;
    out.flush()?;
    eprintln!("{events} events in {batches} bulk bodies");
    Ok(())
}
