//! Where a call came from: ECS `source.geo.*` (country, continent, region, city, location) and
//! `source.as.*` (autonomous system number and organization) for the public IP address in
//! CloudTrail's `sourceIPAddress`, from local databases in the MaxMind DB format.
//!
//! * Nothing is looked up for what is not a public unicast address: service names
//!   (`ec2.amazonaws.com`), `AWS Internal`, private, loopback, link-local, shared (CGNAT),
//!   documentation, benchmarking, multicast and other reserved ranges ([`is_public`]). Databases
//!   do hold records for some of these (documentation ranges get a country in several of them),
//!   so the check comes before the lookup.
//! * Two record layouts are read: MaxMind's GeoIP2/GeoLite2 (`country.iso_code`,
//!   `country.names.en`, `continent.names.en`, `subdivisions[0].names.en`, `city.names.en`,
//!   `location.{latitude,longitude}`; ASN: `autonomous_system_number`,
//!   `autonomous_system_organization`) and the flat one of the ip-location-db project
//!   (`country_code`, `state1`, `city`, `latitude`, `longitude`, and the same ASN names). A field
//!   the database does not hold is left out; a record that cannot be decoded gives no fields.
//! * Lookups are cached per address (bounded, like the user-agent cache). The cache belongs to
//!   the loaded database, so a reload starts with an empty one.
//! * [`GeoIp::reload_changed`] reopens a database whose file was replaced (modification time,
//!   size or inode changed); a replacement that does not open keeps the old data and logs a
//!   warning. [`GeoIp::spawn_reloader`] calls it periodically from a thread of its own, so the
//!   enrichment itself never does I/O. Nothing is ever downloaded.

use super::cache::bounded_cache;
use maxminddb::Reader;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

/// Entries per database cache unless configured otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 16_384;

/// ECS `source.geo.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Geo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city_name: Option<String>,
    /// A `geo_point`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Geo {
    pub fn is_empty(&self) -> bool {
        *self == Geo::default()
    }
}

/// A `geo_point` as an object: `{"lat": .., "lon": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// ECS `source.as.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AutonomousSystem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization>,
}

impl AutonomousSystem {
    pub fn is_empty(&self) -> bool {
        self.number.is_none() && self.organization.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub name: String,
}

/// Why a database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot read the {kind} database {}: {source}", path.display())]
    Read {
        kind: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid MaxMind DB file ({kind} database): {source}", path.display())]
    Invalid {
        kind: &'static str,
        path: PathBuf,
        source: maxminddb::MaxMindDbError,
    },
}

/// Which databases to use.
#[derive(Debug, Clone, Default)]
pub struct GeoIpConfig {
    /// Country/city database (GeoIP2/GeoLite2 Country or City, DB-IP, ip-location-db ...).
    pub geo: Option<PathBuf>,
    /// Autonomous system database (GeoIP2/GeoLite2 ASN layout).
    pub asn: Option<PathBuf>,
    /// Entries per database cache; 0 means [`DEFAULT_CACHE_CAPACITY`].
    pub cache_capacity: usize,
}

/// The databases of one pipeline. Cheap to share (`Arc`); lookups never block each other
/// except for the instant a reload swaps a database.
pub struct GeoIp {
    geo: Option<Database<Geo>>,
    asn: Option<Database<AutonomousSystem>>,
}

/// What [`GeoIp::lookup`] found.
#[derive(Debug, Default, Clone)]
pub struct GeoLookup {
    pub geo: Option<Arc<Geo>>,
    pub autonomous_system: Option<Arc<AutonomousSystem>>,
}

impl GeoIp {
    /// Opens the configured databases; an error names the file and what is wrong with it.
    pub fn open(config: &GeoIpConfig) -> Result<GeoIp, GeoIpError> {
        let (geoip, mut errors) = GeoIp::open_each(config);
        match errors.pop() {
            None => Ok(geoip),
            Some(e) => Err(e),
        }
    }

    /// Opens every configured database that can be opened; the errors say which could not
    /// (those parts are off).
    pub fn open_each(config: &GeoIpConfig) -> (GeoIp, Vec<GeoIpError>) {
        let capacity = if config.cache_capacity == 0 {
            DEFAULT_CACHE_CAPACITY
        } else {
            config.cache_capacity
        };
        let mut errors = Vec::new();
        let geo = config.geo.as_deref().and_then(|p| {
            Database::open(p, "GeoIP", capacity)
                .map_err(|e| errors.push(e))
                .ok()
        });
        let asn = config.asn.as_deref().and_then(|p| {
            Database::open(p, "ASN", capacity)
                .map_err(|e| errors.push(e))
                .ok()
        });
        (GeoIp { geo, asn }, errors)
    }

    pub fn has_geo(&self) -> bool {
        self.geo.is_some()
    }

    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// Geo and AS data for `address` (the text of `sourceIPAddress`); nothing for a service
    /// name, an unparsable text or an address that is not public.
    pub fn lookup_address(&self, address: &str) -> GeoLookup {
        match address.parse::<IpAddr>() {
            Ok(ip) => self.lookup(ip),
            Err(_) => GeoLookup::default(),
        }
    }

    /// Geo and AS data for `ip`; nothing for an address that is not public.
    pub fn lookup(&self, ip: IpAddr) -> GeoLookup {
        let ip = ip.to_canonical();
        if !is_public(ip) {
            return GeoLookup::default();
        }
        GeoLookup {
            geo: self.geo.as_ref().and_then(|d| d.lookup(ip)),
            autonomous_system: self.asn.as_ref().and_then(|d| d.lookup(ip)),
        }
    }

    /// Reopens each database whose file changed since it was loaded. Returns how many were
    /// reloaded; a file that cannot be opened keeps the data in use (with a warning, once per
    /// version of the file).
    pub fn reload_changed(&self) -> usize {
        let mut n = 0;
        if let Some(d) = &self.geo {
            n += usize::from(d.reload_if_changed());
        }
        if let Some(d) = &self.asn {
            n += usize::from(d.reload_if_changed());
        }
        n
    }

    /// Checks the files every `interval` from a thread that ends once `geoip` is dropped.
    pub fn spawn_reloader(geoip: &Arc<GeoIp>, interval: Duration) -> std::io::Result<()> {
        if geoip.geo.is_none() && geoip.asn.is_none() {
            return Ok(());
        }
        let weak: Weak<GeoIp> = Arc::downgrade(geoip);
        let interval = interval.max(Duration::from_millis(100));
        std::thread::Builder::new()
            .name("geoip-reload".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                match weak.upgrade() {
                    Some(g) => {
                        g.reload_changed();
                    }
                    None => break,
                }
            })
            .map(|_| ())
    }

    /// (entries cached, capacity) of the GeoIP and ASN caches, for tests and benchmarks.
    pub fn cache_len(&self) -> (usize, usize) {
        (
            self.geo.as_ref().map_or(0, |d| d.current().cache.len()),
            self.asn.as_ref().map_or(0, |d| d.current().cache.len()),
        )
    }
}

/// Whether `ip` is a public unicast address worth a lookup. IPv4-mapped IPv6 addresses are
/// judged as the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                      // "this network"
        || a == 10                                // private
        || (a == 100 && (64..128).contains(&b))   // shared address space (CGNAT)
        || a == 127                               // loopback
        || (a == 169 && b == 254)                 // link-local
        || (a == 172 && (16..32).contains(&b))    // private
        || (a == 192 && b == 0 && c == 0)         // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)         // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99)       // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)                 // private
        || (a == 198 && (18..20).contains(&b))    // benchmarking
        || (a == 198 && b == 51 && c == 100)      // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113)       // documentation (TEST-NET-3)
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Only global unicast (2000::/3) is routed on the Internet ...
    (s[0] & 0xe000) == 0x2000
        // ... less what is reserved inside it:
        && !(s[0] == 0x2001 && s[1] < 0x0200)     // IETF protocol assignments (Teredo, ORCHID ...)
        && !(s[0] == 0x2001 && s[1] == 0x0db8)    // documentation
        && s[0] != 0x2002                         // 6to4
        && (s[0] & 0xfff0) != 0x3ff0 // documentation (3fff::/20)
}

/// A file's identity: replaced files differ in at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode,
        })
    }
}

/// One database file, reloadable.
struct Database<T> {
    path: PathBuf,
    kind: &'static str,
    capacity: usize,
    state: RwLock<Arc<Loaded<T>>>,
    /// The version of the file that last failed to open: warned about once.
    failed: Mutex<Option<Stamp>>,
}

struct Loaded<T> {
    reader: Reader<Vec<u8>>,
    stamp: Stamp,
    cache: quick_cache::sync::Cache<IpAddr, Option<Arc<T>>>,
}

impl<T: FromRecord> Database<T> {
    fn open(path: &Path, kind: &'static str, capacity: usize) -> Result<Self, GeoIpError> {
        let loaded = Loaded::open(path, kind, capacity)?;
        let meta = loaded.reader.metadata();
        tracing::info!(
            kind,
            path = %path.display(),
            database_type = %meta.database_type,
            built = meta.build_epoch,
            "opened the {kind} database"
        );
        Ok(Database {
            path: path.to_owned(),
            kind,
            capacity,
            state: RwLock::new(Arc::new(loaded)),
            failed: Mutex::new(None),
        })
    }

    fn current(&self) -> Arc<Loaded<T>> {
        Arc::clone(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn lookup(&self, ip: IpAddr) -> Option<Arc<T>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = state.cache.get(&ip) {
            return hit;
        }
        let found = state.decode(ip).map(Arc::new);
        state.cache.insert(ip, found.clone());
        found
    }

    /// Reloads when the file changed; true when the new file is in use.
    fn reload_if_changed(&self) -> bool {
        let stamp = match Stamp::of(&self.path) {
            Ok(s) => s,
            Err(e) => {
                // Being replaced (removed, then renamed into place), or gone: keep what we have.
                tracing::debug!(path = %self.path.display(), error = %e, "cannot stat the {} database", self.kind);
                return false;
            }
        };
        if stamp == self.current().stamp {
            return false;
        }
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if *failed == Some(stamp) {
            return false;
        }
        match Loaded::open(&self.path, self.kind, self.capacity) {
            Ok(loaded) => {
                let meta = loaded.reader.metadata();
                tracing::info!(
                    kind = self.kind,
                    path = %self.path.display(),
                    database_type = %meta.database_type,
                    built = meta.build_epoch,
                    "reloaded the {} database: its file was replaced",
                    self.kind
                );
                *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
                *failed = None;
                true
            }
            Err(e) => {
                tracing::warn!("{e}; the {} database loaded before stays in use", self.kind);
                *failed = Some(stamp);
                false
            }
        }
    }
}

impl<T: FromRecord> Loaded<T> {
    fn open(path: &Path, kind: &'static str, capacity: usize) -> Result<Self, GeoIpError> {
        // Stamp first: if the file is replaced while it is read, the next check sees a change.
        let stamp = Stamp::of(path).map_err(|source| GeoIpError::Read {
            kind,
            path: path.to_owned(),
            source,
        })?;
        // Read into memory rather than mapped: a file replaced in place under a mapping can
        // crash the process; a copy cannot change under us.
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Read {
            kind,
            path: path.to_owned(),
            source,
        })?;
        let reader = Reader::from_source(bytes).map_err(|source| GeoIpError::Invalid {
            kind,
            path: path.to_owned(),
            source,
        })?;
        Ok(Loaded {
            reader,
            stamp,
            cache: bounded_cache(capacity),
        })
    }

    fn decode(&self, ip: IpAddr) -> Option<T> {
        let result = self.reader.lookup(ip).ok()?;
        // A record that does not decode is treated as no record: never fail the event.
        let record: RawRecord = result.decode().ok()??;
        T::from_record(record)
    }
}

/// Builds the ECS object from a decoded record; `None` when the record holds nothing for it.
trait FromRecord: Sized + Send + Sync + 'static {
    fn from_record(r: RawRecord) -> Option<Self>;
}

impl FromRecord for Geo {
    fn from_record(r: RawRecord) -> Option<Geo> {
        let country = r.country.or(r.registered_country).unwrap_or_default();
        let geo = Geo {
            country_iso_code: country.iso_code.or(r.country_code),
            country_name: country.name,
            continent_name: r.continent.and_then(|c| c.name),
            region_name: r.region_name,
            city_name: r.city_name,
            location: match (r.latitude, r.longitude) {
                (Some(lat), Some(lon))
                    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
                {
                    Some(Location { lat, lon })
                }
                _ => None,
            },
        };
        (!geo.is_empty()).then_some(geo)
    }
}

impl FromRecord for AutonomousSystem {
    fn from_record(r: RawRecord) -> Option<AutonomousSystem> {
        let a = AutonomousSystem {
            number: r.as_number,
            organization: r
                .as_organization
                .filter(|s| !s.is_empty())
                .map(|name| Organization { name }),
        };
        (!a.is_empty()).then_some(a)
    }
}

/// The fields trailscope reads from a record of either layout; everything else is skipped.
#[derive(Debug, Default)]
struct RawRecord {
    country: Option<Place>,
    registered_country: Option<Place>,
    continent: Option<Place>,
    country_code: Option<String>,
    region_name: Option<String>,
    city_name: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    as_number: Option<u64>,
    as_organization: Option<String>,
}

impl<'de> Deserialize<'de> for RawRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRecord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a MaxMind DB record (a map)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRecord, A::Error> {
                let mut r = RawRecord::default();
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        // GeoIP2 / GeoLite2
                        "country" => r.country = map.next_value::<Lenient<Place>>()?.0,
                        "registered_country" => {
                            r.registered_country = map.next_value::<Lenient<Place>>()?.0
                        }
                        "continent" => r.continent = map.next_value::<Lenient<Place>>()?.0,
                        "subdivisions" => {
                            let v = map.next_value::<FirstName>()?.0;
                            r.region_name = r.region_name.or(v);
                        }
                        // `city` is a place in GeoIP2 and a plain name in flat layouts.
                        "city" => r.city_name = map.next_value::<PlaceOrName>()?.0,
                        "location" => {
                            let l = map.next_value::<Lenient<LatLon>>()?.0.unwrap_or_default();
                            r.latitude = r.latitude.or(l.latitude.0);
                            r.longitude = r.longitude.or(l.longitude.0);
                        }
                        // Flat (ip-location-db, DB-IP lite in its flat form)
                        "country_code" => r.country_code = map.next_value::<Text>()?.0,
                        "state1" => {
                            let v = map.next_value::<Text>()?.0;
                            r.region_name = r.region_name.or(v);
                        }
                        "latitude" => r.latitude = map.next_value::<Number>()?.0,
                        "longitude" => r.longitude = map.next_value::<Number>()?.0,
                        // ASN, in both layouts
                        "autonomous_system_number" => {
                            r.as_number = map.next_value::<Number>()?.0.and_then(|n| {
                                (n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64)
                                    .then_some(n as u64)
                            })
                        }
                        "autonomous_system_organization" => {
                            r.as_organization = map.next_value::<Text>()?.0
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

/// A GeoIP2 place (`country`, `continent`, `city`, a subdivision): its code and English name.
#[derive(Debug, Default, Deserialize)]
struct Place {
    #[serde(default, deserialize_with = "text")]
    iso_code: Option<String>,
    #[serde(default, rename = "names", deserialize_with = "english")]
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LatLon {
    #[serde(default)]
    latitude: Number,
    #[serde(default)]
    longitude: Number,
}

/// A value of the expected shape, or `None` for anything else (never an error).
struct Lenient<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only maps are expected here; anything else is skipped.
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|v| Lenient(Some(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_u128<E>(self, _: u128) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A string, kept only when non-empty; any other type gives `None`.
#[derive(Debug, Default)]
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(AnyVisitor)?;
        Ok(Text(match v {
            Scalar::Str(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        }))
    }
}

/// A number (a string holding one is accepted too); any other type gives `None`.
#[derive(Debug, Default)]
struct Number(Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Number(match d.deserialize_any(AnyVisitor)? {
            Scalar::Num(n) if n.is_finite() => Some(n),
            Scalar::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        }))
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Text::deserialize(d).map(|t| t.0)
}

/// `names.en` of a GeoIP2 `names` map.
fn english<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Names {
        #[serde(default, deserialize_with = "text")]
        en: Option<String>,
    }
    Ok(Lenient::<Names>::deserialize(d)?.0.and_then(|n| n.en))
}

/// `city`: a GeoIP2 place (its English name) or a plain name.
struct PlaceOrName(Option<String>);

impl<'de> Deserialize<'de> for PlaceOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PlaceOrName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a place or a name")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PlaceOrName, A::Error> {
                let p = Place::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PlaceOrName(p.name))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<PlaceOrName, E> {
                self.visit_str(s)
            }
            fn visit_str<E>(self, s: &str) -> Result<PlaceOrName, E> {
                let s = s.trim();
                Ok(PlaceOrName((!s.is_empty()).then(|| s.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PlaceOrName, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PlaceOrName(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<PlaceOrName, E> {
                Ok(PlaceOrName(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<PlaceOrName, E> {
                Ok(PlaceOrName(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<PlaceOrName, E> {
                Ok(PlaceOrName(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The English name of the first element of GeoIP2 `subdivisions` (the largest one).
struct FirstName(Option<String>);

impl<'de> Deserialize<'de> for FirstName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of places")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstName, A::Error> {
                let first = seq
                    .next_element::<Lenient<Place>>()?
                    .and_then(|p| p.0)
                    .and_then(|p| p.name);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstName(first))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FirstName, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FirstName(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<FirstName, E> {
                Ok(FirstName(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar of any MaxMind DB type, or `Other` for containers (which are skipped).
enum Scalar<'de> {
    Str(std::borrow::Cow<'de, str>),
    Num(f64),
    Other,
}

struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(s.into()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(s.to_owned().into()))
    }
    fn visit_string<E>(self, s: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(s.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Num(n as f64))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Num(n as f64))
    }
    fn visit_u128<E>(self, n: u128) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Num(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Num(n))
    }
    fn visit_f32<E>(self, n: f32) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Num(n as f64))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_and_not_public_addresses() {
        for a in [
            "8.8.8.8",
            "89.160.20.156",
            "34.201.5.17",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
        ] {
            assert!(is_public(ip(a)), "{a} is public");
        }
        for a in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.44",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:c000:0204::1",
            "3fff::1",
            "64:ff9b::1.2.3.4",
        ] {
            assert!(!is_public(ip(a)), "{a} is not public");
        }
    }

    #[test]
    fn no_lookup_without_databases() {
        let g = GeoIp::open(&GeoIpConfig::default()).unwrap();
        assert!(!g.has_geo() && !g.has_asn());
        let l = g.lookup_address("8.8.8.8");
        assert!(l.geo.is_none() && l.autonomous_system.is_none());
        assert_eq!(g.reload_changed(), 0);
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = GeoIp::open(&GeoIpConfig {
            geo: Some("/nonexistent/GeoLite2-City.mmdb".into()),
            ..Default::default()
        })
        .err()
        .expect("an error");
        let msg = err.to_string();
        assert!(
            msg.contains("cannot read the GeoIP database /nonexistent/GeoLite2-City.mmdb"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_not_an_mmdb_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asn.mmdb");
        std::fs::write(&path, b"this is not a MaxMind DB").unwrap();
        let msg = GeoIp::open(&GeoIpConfig {
            asn: Some(path.clone()),
            ..Default::default()
        })
        .err()
        .expect("an error")
        .to_string();
        assert!(
            msg.contains(&format!(
                "{} is not a valid MaxMind DB file (ASN database)",
                path.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn geo_serializes_as_ecs() {
        let g = Geo {
            country_iso_code: Some("SE".into()),
            location: Some(Location {
                lat: 59.3,
                lon: 18.0,
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&g).unwrap(),
            serde_json::json!({"country_iso_code": "SE", "location": {"lat": 59.3, "lon": 18.0}})
        );
        let a = AutonomousSystem {
            number: Some(29518),
            organization: Some(Organization {
                name: "Bredband2 AB".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"number": 29518, "organization": {"name": "Bredband2 AB"}})
        );
    }
}
