//! GeoIP test databases: the openly licensed country database installed from npm by
//! `scripts/geoip-db.sh` (into the git-ignored `.cache/geoip/`), and small MaxMind DB files the
//! tests write themselves with `mmdb-writer` (no openly licensed ASN database in that format is
//! published on npm, and a reload needs a second database with different content).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `.cache/geoip/geo-whois-asn-country.mmdb` (@ip-location-db/geo-whois-asn-country-mmdb),
/// installed now if `scripts/test.sh` has not done it yet. Fails the test, saying why, when it
/// cannot be installed: a test that needs it never passes without it.
pub fn country_db() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/geoip-db.sh"))
        .current_dir(root)
        .output()
        .expect("run scripts/geoip-db.sh");
    assert!(
        out.status.success(),
        "the GeoIP test database could not be installed from npm (scripts/geoip-db.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = root.join(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        path.is_file(),
        "scripts/geoip-db.sh reported {}, which is not a file",
        path.display()
    );
    path
}

/// Writes a MaxMind DB of `database_type` holding `records` (network, record) to `path`.
pub fn write_mmdb(path: &Path, database_type: &str, records: &[(&str, Value)]) {
    let mut w = mmdb_writer::Writer::new(database_type);
    for (net, record) in records {
        let net: ipnet::IpNet = net.parse().unwrap();
        w.insert(net, record).unwrap();
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.to_bytes().unwrap()).unwrap();
    // Replaced in one step, as a database update should be.
    std::fs::rename(&tmp, path).unwrap();
}

/// A small ASN database in MaxMind's GeoLite2-ASN layout, written by the test. The networks
/// and their autonomous systems are real allocations; the reserved ranges hold trap records
/// that must never show up (reserved addresses are not looked up).
pub fn asn_db(dir: &Path) -> PathBuf {
    let path = dir.join("test-asn.mmdb");
    let asn = |n: u32, org: &str| json!({"autonomous_system_number": n, "autonomous_system_organization": org});
    write_mmdb(
        &path,
        "GeoLite2-ASN",
        &[
            ("8.8.8.0/24", asn(15169, "GOOGLE")),
            ("2001:4860::/32", asn(15169, "GOOGLE")),
            ("89.160.0.0/17", asn(29518, "Bredband2 AB")),
            ("34.192.0.0/10", asn(14618, "AMAZON-AES")),
            ("54.64.0.0/15", asn(16509, "AMAZON-02")),
            ("10.0.0.0/8", asn(64512, "TRAP private")),
            ("127.0.0.0/8", asn(64512, "TRAP loopback")),
            ("198.51.100.0/24", asn(64496, "TRAP documentation")),
            ("203.0.113.0/24", asn(64496, "TRAP documentation")),
            ("fe80::/10", asn(64512, "TRAP link-local")),
        ],
    );
    path
}

/// A GeoIP2-City record as MaxMind lays it out (names in several languages, subdivisions).
pub fn city_record(
    iso: &str,
    country: &str,
    continent: &str,
    region: &str,
    city: &str,
    lat: f64,
    lon: f64,
) -> Value {
    json!({
        "city": {"geoname_id": 1, "names": {"de": format!("{city} (de)"), "en": city}},
        "continent": {"code": "XX", "geoname_id": 2, "names": {"en": continent, "ja": "?"}},
        "country": {"geoname_id": 3, "iso_code": iso, "names": {"en": country, "fr": "?"}},
        "location": {"accuracy_radius": 100, "latitude": lat, "longitude": lon, "time_zone": "UTC"},
        "registered_country": {"geoname_id": 4, "iso_code": "ZZ", "names": {"en": "Elsewhere"}},
        "subdivisions": [
            {"geoname_id": 5, "iso_code": "R", "names": {"en": region}},
            {"geoname_id": 6, "iso_code": "S", "names": {"en": "Second level"}}
        ]
    })
}
