//! ns per GeoIP lookup, cached and uncached: `cargo bench --bench geoip` (optimised build).
//!
//! Plain timing loops (no criterion: one more heavy dev-dependency for four numbers). Databases:
//! the npm country database of the tests (`scripts/geoip-db.sh` installs it into .cache/geoip),
//! and a GeoIP2-City-layout database written here with mmdb-writer (full MaxMind records: names
//! in several languages, subdivisions, location) so that the heavier decode is measured too.
//!
//! * uncached: the first lookup of an address: the reserved-range check, the tree walk, the
//!   record decode, and the insert into the cache;
//! * cached: the same addresses again, answered by the cache;
//! * `lookup_address`: the path `Enricher::enrich` takes (the text of sourceIPAddress parsed
//!   first), cached.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Instant;
use trailscope::enrich::geoip::{is_public, GeoIp, GeoIpConfig};

const DISTINCT: usize = 10_000;
const ROUNDS: usize = 20;

fn country_db() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/geoip-db.sh"))
        .current_dir(root)
        .output()
        .expect("run scripts/geoip-db.sh");
    assert!(
        out.status.success(),
        "scripts/geoip-db.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root.join(String::from_utf8_lossy(&out.stdout).trim())
}

/// `n` distinct public IPv4 addresses, deterministic (xorshift).
fn addresses(n: usize) -> Vec<IpAddr> {
    let mut x: u32 = 0x9e37_79b9;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let ip = IpAddr::V4(Ipv4Addr::from(x));
        if is_public(ip) && seen.insert(ip) {
            out.push(ip);
        }
    }
    out
}

/// A GeoIP2-City-layout database: one full record per /12 of the IPv4 space (4096 networks).
fn city_db(dir: &Path) -> PathBuf {
    let path = dir.join("bench-city.mmdb");
    let mut w = mmdb_writer::Writer::new("GeoIP2-City");
    for i in 0u32..4096 {
        let net: ipnet::IpNet = format!("{}/12", Ipv4Addr::from(i << 20)).parse().unwrap();
        let record = serde_json::json!({
            "city": {"geoname_id": i, "names": {"de": format!("Stadt {i}"), "en": format!("City {i}"),
                     "es": format!("Ciudad {i}"), "fr": format!("Ville {i}"), "ja": "市", "ru": "Город"}},
            "continent": {"code": "EU", "geoname_id": 6255148,
                          "names": {"de": "Europa", "en": "Europe", "fr": "Europe", "ja": "ヨーロッパ"}},
            "country": {"geoname_id": 2661886, "iso_code": "SE",
                        "names": {"de": "Schweden", "en": "Sweden", "fr": "Suède", "ja": "スウェーデン"}},
            "location": {"accuracy_radius": 76, "latitude": 58.4167, "longitude": 15.6167,
                         "time_zone": "Europe/Stockholm"},
            "registered_country": {"geoname_id": 2661886, "iso_code": "SE", "names": {"en": "Sweden"}},
            "subdivisions": [{"geoname_id": 2685867, "iso_code": "E",
                              "names": {"en": "Östergötland County", "fr": "Comté d'Östergötland"}}]
        });
        w.insert(net, &record).unwrap();
    }
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    path
}

fn measure(name: &str, path: &Path, ips: &[IpAddr]) {
    let texts: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
    let g = GeoIp::open(&GeoIpConfig {
        geo: Some(path.to_owned()),
        asn: None,
        cache_capacity: DISTINCT * 2,
    })
    .unwrap();
    let t = Instant::now();
    let mut found = 0usize;
    for ip in ips {
        found += usize::from(black_box(g.lookup(*ip)).geo.is_some());
    }
    let uncached = t.elapsed().as_nanos() as f64 / ips.len() as f64;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        for ip in ips {
            black_box(g.lookup(*ip));
        }
    }
    let cached = t.elapsed().as_nanos() as f64 / (ips.len() * ROUNDS) as f64;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        for text in &texts {
            black_box(g.lookup_address(text));
        }
    }
    let address = t.elapsed().as_nanos() as f64 / (ips.len() * ROUNDS) as f64;
    println!(
        "{name:<40} uncached {uncached:>7.0} ns/lookup   cached {cached:>5.0} ns/lookup   \
         lookup_address (parse + cached) {address:>5.0} ns   ({found}/{} addresses found)",
        ips.len()
    );
}

fn main() {
    // `cargo test --all-targets` builds benches and runs them with --bench absent: do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let ips = addresses(DISTINCT);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{} distinct public IPv4 addresses; cached = {ROUNDS} more rounds over them",
        ips.len()
    );
    measure(
        "geo-whois-asn-country (npm, flat layout)",
        &country_db(),
        &ips,
    );
    measure(
        "GeoIP2-City layout (written, 4096 /12s)",
        &city_db(dir.path()),
        &ips,
    );
}
