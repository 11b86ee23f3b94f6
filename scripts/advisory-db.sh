#!/usr/bin/env bash
# The RustSec advisory database that `cargo deny check advisories` reads.
#
# The database is a git repository outside the package registries Berth's
# machines reach, so a snapshot of it lives in tools/advisory-db/
# (snapshot.tar.xz: its crates/ advisories and licence files; SNAPSHOT: the
# commit and date it was taken at).
#
#   scripts/advisory-db.sh prepare
#       unpacks the snapshot where deny.toml's db-path expects it (as a git
#       repository dated like the snapshot, since cargo-deny reads the date
#       of its HEAD) and prints the snapshot's date. scripts/test.sh runs it
#       before `cargo deny --offline check`.
#   scripts/advisory-db.sh refresh CHECKOUT
#       repacks the snapshot from a newer checkout of the database (a git
#       clone of it, made wherever it can be fetched). Commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

SNAP=tools/advisory-db
# deny.toml's db-path; cargo-deny (pinned in scripts/setup.sh) names the
# database's directory after the last segment of its URL and a hash of the
# URL. A cargo-deny that names it otherwise fails the check with "cannot
# change to '<its name>'", never passes it silently.
DB_DIR=target/advisory-dbs/advisory-db-3157b0e258782691

case "${1:-}" in
prepare)
    read -r commit date <"$SNAP/SNAPSHOT"
    rm -rf "$DB_DIR"
    mkdir -p "$DB_DIR"
    tar -xJf "$SNAP/snapshot.tar.xz" -C "$DB_DIR"
    # An empty or cut snapshot would pass every check: refuse it.
    n=$(find "$DB_DIR/crates" -name 'RUSTSEC-*.md' | wc -l)
    if [ "$n" -lt 500 ]; then
        echo "the advisory snapshot holds only $n advisories: it is broken" >&2
        exit 1
    fi
    git -C "$DB_DIR" init -q
    git -C "$DB_DIR" add -A
    GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
        git -C "$DB_DIR" -c user.name=berth -c user.email=berth@localhost \
        commit -q -m "RustSec advisory database at $commit"
    echo "advisory database: $n advisories, snapshot of $date (commit $commit)"
    ;;
refresh)
    src="${2:?usage: scripts/advisory-db.sh refresh CHECKOUT}"
    [ -d "$src/crates" ] || { echo "$src has no crates/: not a checkout of the advisory database" >&2; exit 1; }
    commit=$(git -C "$src" rev-parse HEAD)
    date=$(git -C "$src" log -1 --format=%cI)
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$date" \
        -C "$src" -cJf "$SNAP/snapshot.tar.xz" crates LICENSE.txt LICENSES
    echo "$commit $date" >"$SNAP/SNAPSHOT"
    echo "snapshot now $date (commit $commit); run scripts/advisory-db.sh prepare && cargo deny --offline check advisories"
    ;;
*)
    echo "usage: scripts/advisory-db.sh prepare | refresh CHECKOUT" >&2
    exit 2
    ;;
esac
