#!/usr/bin/env bash
# Pull benchmark: Berth's image store against its peers, on the same
# ~100 MB, 5-layer image in a local docker-registry, in one run. The sides
# do different amounts of work, so each is printed with what it does:
#
#   berth         download (4 layers at once), verify digests, unpack every
#                 layer into its own snapshot (the rootfs is an overlay of
#                 them, mounted later)
#   docker pull   a private dockerd (own data root, exec root, socket and
#                 pidfile in the work dir; no bridge, no iptables; the
#                 loopback registry as insecure registry; 4 downloads at
#                 once): download, verify, unpack every layer into its own
#                 overlay2 layer. The same work as berth.
#   skopeo copy   download and verify into an OCI layout, no unpacking: a
#                 lower bound for the network and hashing part
#   skopeo+umoci  skopeo copy, then `umoci unpack`: unpacks all layers
#                 flattened into one tree and hashes that tree into an
#                 mtree manifest; more work than berth does
#
# Ratios are berth / side (below 1.0 means Berth is faster).
#
# Usage: bench/pull.sh            (RUNS=5 by default; BERTH_IMAGE_PULL=path
#                                  to skip the release build; LAYER_MB=20 per
#                                  layer; BENCH_DOCKER=0 skips docker pull)
#        RUNS=2 LAYER_MB=2 bench/pull.sh   # a short check
# Needs: docker-registry, skopeo, umoci, hyperfine, python3; dockerd and
# docker for the docker side; root (umoci unpack, Berth's snapshots and
# dockerd keep owners and device nodes).
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

docker=${BENCH_DOCKER:-1}
if [ "$docker" != 0 ] && { ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; }; then
    echo "bench/pull.sh: dockerd/docker not installed, no docker pull side" >&2
    docker=0
fi

work=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
reg_pid=
dockerd_pid=
D=(docker -H "unix://$work/docker/docker.sock")
# Processes of our dockerd (its containerd names the work dir).
procs_of_work() {
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$work/docker"; then
            echo "${p#/proc/}"
        fi
    done
}
cleanup() {
    set +e
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$dockerd_pid" 2>/dev/null
        wait "$dockerd_pid" 2>/dev/null
        local p
        for p in $(procs_of_work); do kill -9 "$p" 2>/dev/null; done
    fi
    awk -v d="$work" '$5 ~ "^"d {print length($5), $5}' /proc/self/mountinfo | sort -rn |
        cut -d' ' -f2- | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

if [ "$docker" != 0 ]; then
    mkdir -p "$work/docker"
    dockerd --pidfile "$work/docker/docker.pid" --data-root "$work/docker/data" \
        --exec-root "$work/docker/exec" -H "unix://$work/docker/docker.sock" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
        --insecure-registry "127.0.0.1:$port" --max-concurrent-downloads 4 \
        >"$work/docker/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 300); do
        "${D[@]}" version >/dev/null 2>&1 && break
        sleep 0.2
    done
    "${D[@]}" version >/dev/null || { tail -5 "$work/docker/dockerd.log" >&2; exit 1; }
    echo "dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) up ($("${D[@]}" info --format '{{.Driver}}') storage driver)" >&2
fi

# One hyperfine per side: each has its own clean-up before every run.
side() { # name prepare command
    hyperfine --runs "$runs" --warmup 1 --style basic --prepare "$2; sync" \
        -n "$1" "$3" --export-json "$work/result-$1.json" >&2
}
side berth "rm -rf $work/berth" "$bin --store $work/berth --insecure $ref"
if [ "$docker" != 0 ]; then
    side docker "${D[*]} rmi -f $ref >/dev/null 2>&1 || true" "${D[*]} pull -q $ref"
fi
side skopeo "rm -rf $work/oci" "skopeo copy --quiet --src-tls-verify=false docker://$ref oci:$work/oci:big"
side skopeo+umoci "rm -rf $work/oci $work/bundle" \
    "skopeo copy --quiet --src-tls-verify=false docker://$ref oci:$work/oci:big && umoci unpack --image $work/oci:big $work/bundle >/dev/null"

python3 - "$work" <<'EOF'
import glob, json, os, sys
r = {}
for f in glob.glob(os.path.join(sys.argv[1], "result-*.json")):
    x = json.load(open(f))["results"][0]
    r[x["command"]] = x
what = {
    "berth": "download, verify, unpack each layer to its own snapshot",
    "docker": "docker pull: download, verify, unpack each layer to overlay2 (same work)",
    "skopeo": "skopeo copy to an OCI layout: download, verify, no unpack (less work)",
    "skopeo+umoci": "skopeo copy + umoci unpack: flatten all layers, mtree manifest (more work)",
}
b = r["berth"]
for name in ["berth", "docker", "skopeo", "skopeo+umoci"]:
    if name not in r:
        continue
    x = r[name]
    ratio = "" if name == "berth" else f"   berth/{name} = {b['mean'] / x['mean']:.2f}"
    print(f"{name:<13} {x['mean']:7.3f} s ± {x['stddev']:.3f}{ratio:<26}  ({what[name]})")
EOF
