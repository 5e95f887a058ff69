//! GeoIP and ASN enrichment (`source.geo.*`, `source.as.*`): the reader on the openly licensed
//! npm database and on MaxMind's own layout, the pipeline from moto through `trailscope
//! forward` into the real OpenSearch, `audit`'s country and network sections, errors at start,
//! and a database replaced while `forward` runs.

mod common;

use common::geoip::{asn_db, city_record, country_db, write_mmdb};
use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use trailscope::enrich::geoip::{GeoIp, GeoIpConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn country(g: &GeoIp, address: &str) -> Option<String> {
    g.lookup_address(address)
        .geo
        .and_then(|g| g.country_iso_code.clone())
}

#[test]
fn known_addresses_resolve_in_the_npm_country_database() {
    let path = country_db();
    let g = GeoIp::open(&GeoIpConfig {
        geo: Some(path.clone()),
        ..Default::default()
    })
    .unwrap();
    for (address, expected) in [
        ("8.8.8.8", "US"),
        ("89.160.20.156", "SE"),
        ("2001:4860:4860::8888", "US"),
        ("::ffff:8.8.8.8", "US"),
    ] {
        assert_eq!(
            country(&g, address).as_deref(),
            Some(expected),
            "{address} in {}",
            path.display()
        );
    }
    // The database holds a country for a documentation range: only the check before the lookup
    // keeps it out.
    let raw = maxminddb::Reader::open_readfile(&path).unwrap();
    let held: Option<Value> = raw.lookup(ip("203.0.113.10")).unwrap().decode().unwrap();
    assert!(
        held.is_some(),
        "the npm database no longer has a record for 203.0.113.10: this check proves nothing"
    );
    for address in [
        "203.0.113.10",
        "198.51.100.7",
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "ec2.amazonaws.com",
        "AWS Internal",
        "",
        "8.8.8.8.8",
    ] {
        let l = g.lookup_address(address);
        assert!(
            l.geo.is_none() && l.autonomous_system.is_none(),
            "{address:?}: {l:?}"
        );
    }
    // Cached: one entry per public address looked up (::ffff:8.8.8.8 is 8.8.8.8), and the same
    // answer from the cache.
    assert_eq!(g.cache_len().0, 3);
    assert_eq!(country(&g, "8.8.8.8").as_deref(), Some("US"));
    assert_eq!(g.cache_len().0, 3);
}

#[test]
fn maxmind_and_flat_layouts_are_both_read() {
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city.mmdb");
    write_mmdb(
        &city,
        "GeoIP2-City",
        &[
            (
                "89.160.20.0/24",
                city_record(
                    "SE",
                    "Sweden",
                    "Europe",
                    "Östergötland County",
                    "Linköping",
                    58.4167,
                    15.6167,
                ),
            ),
            // A country-only GeoIP2 record, as in GeoLite2-Country.
            (
                "8.8.8.0/24",
                json!({"country": {"iso_code": "US", "names": {"en": "United States"}},
                       "continent": {"code": "NA", "names": {"en": "North America"}}}),
            ),
            // The flat layout of ip-location-db's city databases.
            (
                "81.2.69.0/24",
                json!({"city": "London", "country_code": "GB", "state1": "England",
                       "latitude": 51.5142, "longitude": -0.0931, "postcode": "EC2V"}),
            ),
            // Only the registered country is known.
            (
                "2001:4860::/32",
                json!({"registered_country": {"iso_code": "US", "names": {"en": "United States"}}}),
            ),
            // Fields of unexpected types are left out, not errors.
            (
                "1.1.1.0/24",
                json!({"country": "AU", "city": ["x"], "location": {"latitude": "x"},
                       "country_code": "AU", "subdivisions": {"a": 1}}),
            ),
        ],
    );
    let g = GeoIp::open(&GeoIpConfig {
        geo: Some(city),
        asn: Some(asn_db(dir.path())),
        ..Default::default()
    })
    .unwrap();
    let geo = |a: &str| serde_json::to_value(g.lookup_address(a).geo.as_deref()).unwrap();
    let asn =
        |a: &str| serde_json::to_value(g.lookup_address(a).autonomous_system.as_deref()).unwrap();
    assert_eq!(
        geo("89.160.20.156"),
        json!({"country_iso_code": "SE", "country_name": "Sweden", "continent_name": "Europe",
               "region_name": "Östergötland County", "city_name": "Linköping",
               "location": {"lat": 58.4167, "lon": 15.6167}})
    );
    assert_eq!(
        geo("8.8.8.8"),
        json!({"country_iso_code": "US", "country_name": "United States",
               "continent_name": "North America"})
    );
    assert_eq!(
        geo("81.2.69.160"),
        json!({"country_iso_code": "GB", "region_name": "England", "city_name": "London",
               "location": {"lat": 51.5142, "lon": -0.0931}})
    );
    assert_eq!(
        geo("2001:4860:4860::8888"),
        json!({"country_iso_code": "US", "country_name": "United States"})
    );
    assert_eq!(geo("1.1.1.1"), json!({"country_iso_code": "AU"}));
    assert_eq!(geo("9.9.9.9"), Value::Null, "no record");
    assert_eq!(
        asn("89.160.20.156"),
        json!({"number": 29518, "organization": {"name": "Bredband2 AB"}})
    );
    assert_eq!(
        asn("2001:4860:4860::8888"),
        json!({"number": 15169, "organization": {"name": "GOOGLE"}})
    );
    // The ASN test database has trap records in reserved ranges: never returned.
    for a in ["10.1.2.3", "127.0.0.1", "203.0.113.10", "fe80::1"] {
        assert_eq!(asn(a), Value::Null, "{a}");
    }
}

/// One CloudTrail record from `address`, with a unique id.
fn record(seed: u32, i: usize, address: &str, key: &str) -> String {
    let mut r = synthetic::record(seed, i, chrono::Utc::now());
    r["sourceIPAddress"] = json!(address);
    r["userIdentity"]["accessKeyId"] = json!(key);
    r.to_string()
}

fn source_of<'a>(docs: &'a [Value], address: &str) -> &'a Value {
    &docs
        .iter()
        .find(|d| d["source"]["address"] == address)
        .unwrap_or_else(|| panic!("no document from {address}"))["source"]
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_adds_geo_and_as_to_public_sources_only_and_audit_lists_them() {
    let stack = Stack::connect().await;
    let country = country_db();
    let dir = tempfile::tempdir().unwrap();
    let asn = asn_db(dir.path());
    let group = format!("/test/{}", unique("geoip"));
    let prefix = format!("{}-", unique("t-geoip"));
    let key = "AKIAGEOIPTEST0000001";
    let addresses = [
        "8.8.8.8",
        "89.160.20.156",
        "2001:4860:4860::8888",
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "203.0.113.10",
        "ec2.amazonaws.com",
        "AWS Internal",
        "not an address",
    ];
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<(i64, String)> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (now + i as i64, record(0x6e0, i, a, key)))
        .collect();
    stack.put_events(&group, 1, &events).await;
    setup(&prefix);
    let summary = forward_once(
        &group,
        &prefix,
        &dir.path().join("dead.ndjson"),
        &[
            "--geoip-db",
            country.to_str().unwrap(),
            "--asn-db",
            asn.to_str().unwrap(),
        ],
    );
    assert_eq!(summary["indexed"], addresses.len(), "{summary}");
    let docs = stack.all_docs(&prefix).await;
    assert_eq!(docs.len(), addresses.len());

    for (address, iso, asn, org) in [
        ("8.8.8.8", "US", 15169, "GOOGLE"),
        ("89.160.20.156", "SE", 29518, "Bredband2 AB"),
        ("2001:4860:4860::8888", "US", 15169, "GOOGLE"),
    ] {
        let s = source_of(&docs, address);
        assert_eq!(s["ip"], address, "{s}");
        assert_eq!(s["geo"], json!({"country_iso_code": iso}), "{address}: {s}");
        assert_eq!(
            s["as"],
            json!({"number": asn, "organization": {"name": org}}),
            "{address}: {s}"
        );
    }
    for address in &addresses[3..] {
        let s = source_of(&docs, address);
        assert_eq!(s["address"], *address);
        assert!(
            s.get("geo").is_none() && s.get("as").is_none(),
            "{address} got geo fields: {s}"
        );
    }
    assert!(source_of(&docs, "not an address").get("ip").is_none());

    // The fields are mapped for aggregations (as the dashboards and audit use them).
    let (status, body) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_search"),
            Some(json!({"size": 0, "aggs": {
                "c": {"terms": {"field": "source.geo.country_iso_code"}},
                "n": {"terms": {"field": "source.as.number"}}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys = |agg: &str| -> Vec<(Value, Value)> {
        body["aggregations"][agg]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].clone(), b["doc_count"].clone()))
            .collect()
    };
    assert_eq!(
        keys("c"),
        vec![(json!("US"), json!(2)), (json!("SE"), json!(1))]
    );
    assert_eq!(
        keys("n"),
        vec![(json!(15169), json!(2)), (json!(29518), json!(1))]
    );

    // `audit` shows countries and networks for the identity.
    let url = opensearch_url();
    let out = ok(trailscope(&[
        "audit",
        "--opensearch-url",
        &url,
        "--index-prefix",
        &prefix,
        "--access-key",
        key,
        "--since",
        "1d",
        "--format",
        "json",
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["countries"],
        json!([{"name": "US", "count": 2}, {"name": "SE", "count": 1}]),
        "{out}"
    );
    assert_eq!(
        report["networks"],
        json!([{"name": "GOOGLE", "count": 2}, {"name": "Bredband2 AB", "count": 1}]),
        "{out}"
    );
    let table = ok(trailscope(&[
        "audit",
        "--opensearch-url",
        &url,
        "--index-prefix",
        &prefix,
        "--access-key",
        key,
        "--since",
        "1d",
    ]));
    assert!(table.contains("Countries (2)"), "{table}");
    assert!(table.contains("Networks (2)"), "{table}");
    assert!(table.contains("Bredband2 AB"), "{table}");
    stack.cleanup(&prefix).await;
}

/// `forward` of `group` into `prefix`, its checkpoint and dead letters in `dir` named after
/// `name`.
fn forward_args(group: &str, prefix: &str, dir: &Path, name: &str) -> Vec<String> {
    let (url, cw) = (opensearch_url(), cloudwatch_url());
    [
        "forward",
        "--checkpoint-file",
        dir.join(format!("{name}.checkpoint.json"))
            .to_str()
            .unwrap(),
        "--log-group",
        group,
        "--opensearch-url",
        &url,
        "--endpoint-url",
        &cw,
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dir.join(format!("{name}.dead.ndjson")).to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_corrupt_database_is_an_error_at_start_or_a_warning_when_optional() {
    let stack = Stack::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let group = format!("/test/{}", unique("geoip-bad"));
    let prefix = format!("{}-", unique("t-geoip-bad"));
    let now = chrono::Utc::now().timestamp_millis();
    stack
        .put_events(
            &group,
            1,
            &[(now, record(0x6e1, 0, "8.8.8.8", "AKIAGEOIPTEST0000002"))],
        )
        .await;
    setup(&prefix);
    let corrupt = dir.path().join("corrupt.mmdb");
    std::fs::write(&corrupt, b"\xab\xcd\xefMaxMind.com but nothing after it").unwrap();
    let missing = dir.path().join("missing.mmdb");
    let run = |extra: &[&str]| {
        let mut args = forward_args(&group, &prefix, dir.path(), "bad");
        args.push("--once".into());
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        trailscope(&args)
    };

    let out = run(&["--geoip-db", missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a missing database");
    assert!(
        stderr.contains(&format!(
            "cannot read the GeoIP database {}",
            missing.display()
        )) && stderr.contains("--geoip-optional"),
        "{stderr}"
    );
    let out = run(&["--asn-db", corrupt.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a corrupt database");
    assert!(
        stderr.contains(&format!(
            "{} is not a valid MaxMind DB file (ASN database)",
            corrupt.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        stack.count(&prefix).await,
        0,
        "nothing indexed by a failed start"
    );

    // Optional: warned about, and the pipeline goes on with the database that works.
    let country = country_db();
    let out = run(&[
        "--geoip-db",
        country.to_str().unwrap(),
        "--asn-db",
        corrupt.to_str().unwrap(),
        "--geoip-optional",
    ]);
    let stdout = ok(out.clone());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("not a valid MaxMind DB file (ASN database)"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], 1, "{summary}");
    let docs = stack.all_docs(&prefix).await;
    assert_eq!(docs[0]["source"]["geo"]["country_iso_code"], "US");
    assert!(docs[0]["source"].get("as").is_none());
    stack.cleanup(&prefix).await;

    // Neither configured: one info line each, and nothing looked up.
    let prefix2 = format!("{}-", unique("t-geoip-none"));
    setup(&prefix2);
    let mut args = forward_args(&group, &prefix2, dir.path(), "none");
    args.push("--once".into());
    let out = trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert_eq!(
        stderr
            .matches("no GeoIP database (--geoip-db): source.geo.* is not filled")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("no ASN database (--asn-db): source.as.* is not filled")
            .count(),
        1,
        "{stderr}"
    );
    let docs = stack.all_docs(&prefix2).await;
    assert_eq!(docs.len(), 1);
    assert!(docs[0]["source"].get("geo").is_none(), "{}", docs[0]);
    stack.cleanup(&prefix2).await;
}

/// Ends a child process started by this test (by its own handle), also on panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Puts `records` into a new stream of `group` (which exists).
async fn put_stream(stack: &Stack, group: &str, stream: &str, records: &[String]) {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    stack
        .logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let events = records
        .iter()
        .enumerate()
        .map(|(i, m)| {
            InputLogEvent::builder()
                .timestamp(now + i as i64)
                .message(m)
                .build()
                .unwrap()
        })
        .collect();
    stack
        .logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
}

async fn wait_for_count(stack: &Stack, prefix: &str, n: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let c = stack.count(prefix).await;
        if c >= n {
            assert_eq!(c, n, "more documents than events");
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("forward exited early ({status}) with {c} of {n} documents indexed");
        }
        assert!(
            Instant::now() < deadline,
            "only {c} of {n} documents indexed after 90 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_replaced_while_forward_runs_is_reloaded_without_losing_events() {
    let stack = Stack::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let group = format!("/test/{}", unique("geoip-reload"));
    let prefix = format!("{}-", unique("t-geoip-reload"));
    let db = dir.path().join("GeoIP2-City.mmdb");
    let version = |iso: &str, city: &str, lat: f64| {
        vec![(
            "8.8.8.0/24",
            city_record(iso, iso, "Somewhere", "Region", city, lat, 10.0),
        )]
    };
    write_mmdb(&db, "GeoIP2-City", &version("US", "Mountain View", 37.4));
    stack
        .logs
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    setup(&prefix);
    let mut args = forward_args(&group, &prefix, dir.path(), "reload");
    args.extend(
        [
            "--geoip-db",
            db.to_str().unwrap(),
            "--geoip-reload-interval",
            "200ms",
            "--poll-interval",
            "1s",
            "--batch-events",
            "1",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = std::fs::File::create(dir.path().join("forward.log")).unwrap();
    let mut child = Killed(
        trailscope_cmd(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start trailscope forward"),
    );
    let batch = |tag: u32, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| record(0x6e20 + tag, i, "8.8.8.8", "AKIAGEOIPTEST0000003"))
            .collect()
    };
    // forward logs each reload check that found a new file: wait for the n-th such line.
    let log_path = dir.path().join("forward.log");
    let reload_checks = |n: usize| {
        let log_path = log_path.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let seen = log.matches("reloaded the GeoIP database").count()
                    + log
                        .matches("the GeoIP database loaded before stays in use")
                        .count();
                if seen >= n {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "reload check {n} not logged within 30 s:\n{log}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    put_stream(&stack, &group, "a", &batch(0, 5)).await;
    wait_for_count(&stack, &prefix, 5, &mut child.0).await;

    // A replacement that is not a database: the old data stays in use, with a warning.
    let tmp = dir.path().join("broken.tmp");
    std::fs::write(&tmp, b"not a database").unwrap();
    std::fs::rename(&tmp, &db).unwrap();
    reload_checks(1).await;
    put_stream(&stack, &group, "b", &batch(1, 5)).await;
    wait_for_count(&stack, &prefix, 10, &mut child.0).await;

    // A real new version: used from the next check on, without a restart.
    write_mmdb(&db, "GeoIP2-City", &version("DE", "Frankfurt", 50.1));
    reload_checks(2).await;
    put_stream(&stack, &group, "c", &batch(2, 5)).await;
    wait_for_count(&stack, &prefix, 15, &mut child.0).await;
    drop(child);

    let docs = stack.all_docs(&prefix).await;
    let by_stream = |stream: &str| -> Vec<Value> {
        docs.iter()
            .filter(|d| d["cloudwatch"]["log_stream"] == stream)
            .map(|d| d["source"]["geo"].clone())
            .collect()
    };
    for (stream, iso, city) in [
        ("a", "US", "Mountain View"),
        ("b", "US", "Mountain View"),
        ("c", "DE", "Frankfurt"),
    ] {
        let geos = by_stream(stream);
        assert_eq!(geos.len(), 5, "stream {stream}");
        for g in geos {
            assert_eq!(g["country_iso_code"], iso, "stream {stream}: {g}");
            assert_eq!(g["city_name"], city, "stream {stream}: {g}");
        }
    }
    let log = std::fs::read_to_string(dir.path().join("forward.log")).unwrap();
    assert!(
        log.contains("is not a valid MaxMind DB file (GeoIP database)")
            && log.contains("the GeoIP database loaded before stays in use"),
        "{log}"
    );
    assert_eq!(
        log.matches("reloaded the GeoIP database").count(),
        1,
        "{log}"
    );

    // source.geo.location is a geo_point: a distance query finds the Frankfurt documents.
    let (status, body) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_count"),
            Some(json!({"query": {"geo_distance": {"distance": "50km",
                "source.geo.location": {"lat": 50.1, "lon": 10.0}}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 5, "{body}");
    stack.cleanup(&prefix).await;
}
