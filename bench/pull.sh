#!/usr/bin/env bash
# Pull + unpack benchmark: Berth's image store against `skopeo copy` to an OCI
# layout followed by `umoci unpack`, on the same ~100 MB, 5-layer image in a
# local docker-registry, in one run. Prints both timings and the ratio
# (Berth / peer: below 1.0 means Berth is faster).
#
# Usage: bench/pull.sh            (RUNS=5 by default; BERTH_IMAGE_PULL=path
#                                  to skip the release build)
# Needs: docker-registry, skopeo, umoci, hyperfine, python3; root (umoci
# unpack and Berth's snapshots keep owners and device nodes).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
layer_mb=${LAYER_MB:-20}

for tool in docker-registry skopeo umoci hyperfine python3 sha256sum; do
    command -v "$tool" >/dev/null || { echo "bench/pull.sh: $tool is not installed" >&2; exit 1; }
done
bin=${BERTH_IMAGE_PULL:-}
if [ -z "$bin" ]; then
    (cd "$repo" && cargo build --release --quiet -p berth-agent --bin berth-image-pull)
    bin=$(cd "$repo" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/berth-image-pull
fi

work=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
reg_pid=
cleanup() {
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# A registry on a free loopback port, storage in the work dir.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

# Five layers of $layer_mb MB each: half incompressible, half text that
# compresses well, as real layers mix binaries and text.
echo "building a $((5 * layer_mb)) MB, 5-layer image..." >&2
img=$work/img
mkdir -p "$img"
diff_ids=() layers=()
half=$((layer_mb * 1024 * 1024 / 2))
for i in 1 2 3 4 5; do
    root=$work/layer$i
    mkdir -p "$root/opt/layer$i"
    head -c "$half" /dev/urandom > "$root/opt/layer$i/blob.bin"
    # (yes dies of SIGPIPE when head has enough: not an error here)
    { yes "layer $i: the quick brown fox jumps over the lazy dog $RANDOM" || true; } \
        | head -c "$half" > "$root/opt/layer$i/notes.txt"
    tar --sort=name --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/layer$i.tar" .
    d=$(sha256sum "$work/layer$i.tar" | cut -d' ' -f1)
    mkdir -p "$img/$d"
    mv "$work/layer$i.tar" "$img/$d/layer.tar"
    rm -rf "$root"
    diff_ids+=("\"sha256:$d\"") layers+=("\"$d/layer.tar\"")
done
join() { local IFS=,; echo "$*"; }
cat > "$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[$(join "${diff_ids[@]}")]}}
EOF
cid=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$img/$cid.json"
echo "[{\"Config\":\"$cid.json\",\"RepoTags\":[\"bench/big:1\"],\"Layers\":[$(join "${layers[@]}")]}]" \
    > "$img/manifest.json"
(cd "$img" && tar -cf "$work/big.tar" -- *)
rm -rf "$img"
ref=127.0.0.1:$port/bench/big:1
skopeo copy --quiet --dest-tls-verify=false "docker-archive:$work/big.tar" "docker://$ref"
rm -f "$work/big.tar"
compressed=$(du -sm "$work/registry" | cut -f1)
echo "pushed $ref (${compressed} MB in the registry, gzip layers)" >&2

hyperfine --runs "$runs" --warmup 1 --style basic \
    --prepare "rm -rf $work/berth $work/oci $work/bundle; sync" \
    -n berth "$bin --store $work/berth --insecure $ref" \
    -n skopeo+umoci "skopeo copy --quiet --src-tls-verify=false docker://$ref oci:$work/oci:big && umoci unpack --image $work/oci:big $work/bundle >/dev/null" \
    --export-json "$work/result.json" >&2

python3 - "$work/result.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b, p = r["berth"], r["skopeo+umoci"]
print(f"berth pull+unpack:    {b['mean']:.3f} s ± {b['stddev']:.3f}")
print(f"skopeo copy + umoci:  {p['mean']:.3f} s ± {p['stddev']:.3f}")
print(f"ratio berth/peer:     {b['mean'] / p['mean']:.2f}")
EOF
