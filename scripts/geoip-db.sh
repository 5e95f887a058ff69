#!/usr/bin/env bash
# Installs the openly licensed GeoIP test database from npm into the git-ignored .cache/geoip/
# (idempotent: nothing is fetched when the pinned version is already there). Used by
# scripts/test.sh before `cargo test`; trailscope itself never downloads anything.
#
#   @ip-location-db/geo-whois-asn-country-mmdb  npm licence field CC0-1.0; its data is NRO
#                                               statistics under CC BY 4.0 (attribution: nro.net).
#                                               Country of every IPv4/IPv6 network,
#                                               flat records: {"country_code": "US"}
#
# Prints the path of the .mmdb file. Never commit a database.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGE="@ip-location-db/geo-whois-asn-country-mmdb"
VERSION="${TRAILSCOPE_GEOIP_TEST_DB_VERSION:-2.3.2026061719}"
DIR=.cache/geoip
DB="$DIR/geo-whois-asn-country.mmdb"
STAMP="$DIR/.installed-$VERSION"

if [[ -f "$STAMP" && -s "$DB" ]]; then
    echo "$DB"
    exit 0
fi
command -v npm >/dev/null || { echo "geoip-db.sh: npm is needed to install $PACKAGE" >&2; exit 1; }
mkdir -p "$DIR/npm"
# One install at a time (several test runs may start together).
exec 9>"$DIR/.lock"
flock 9
if [[ ! -f "$STAMP" || ! -s "$DB" ]]; then
    echo "geoip-db.sh: installing $PACKAGE@$VERSION from npm into $DIR" >&2
    npm install --silent --no-audit --no-fund --no-save --ignore-scripts \
        --prefix "$DIR/npm" "$PACKAGE@$VERSION" >&2
    src="$DIR/npm/node_modules/$PACKAGE"
    mmdb="$src/geo-whois-asn-country.mmdb"
    [[ -s "$mmdb" ]] || { echo "geoip-db.sh: $mmdb is missing" >&2; exit 1; }
    cp "$mmdb" "$DB.tmp"
    mv "$DB.tmp" "$DB"
    rm -f "$DIR"/.installed-*
    touch "$STAMP"
fi
echo "$DB"
