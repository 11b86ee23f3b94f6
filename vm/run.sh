#!/bin/sh
# Runs test binaries inside Debian's 6.1 kernel with pure cgroup v2, in one
# QEMU boot (TCG; KVM is not usable here). See ../docs/development.md.
#
#   vm/run.sh                 # the tests in vm/tests.list
#   vm/run.sh -l my.list      # another list
#   VM_TIMEOUT=1800 vm/run.sh # seconds before the guest is killed (default 1200)
#
# vm/tests.list: one job per line, `<package> <test-target> [args...]`:
#   berth-runtime cgroup_v2            # cargo test -p berth-runtime --test cgroup_v2
#   berth-runtime lib cgroups::        # the unit tests (--lib), filtered
#   berth-agent containers_v2 --exact some::test
# The args go to the test binary (filters, --exact, --skip ...). Jobs run one
# after the other with --test-threads=1; each gets its own log.
# A job passes only when its binary exits 0 and no test in it printed
# "SKIPPED:" or "skipped:" (a skipped test checked nothing); the
# binaries run with --nocapture so that those lines reach the log.
# vm/modules.list: kernel modules to load at boot (dependencies resolved).
# vm/files.list: extra host files (absolute paths) to copy into the guest at
# the same path, with the shared libraries they need (e.g. /usr/sbin/nft).
#
# In the guest: / is an initramfs (busybox, glibc, the modules), cgroup2 is
# mounted at /sys/fs/cgroup with nsdelegate, /tmp and /run are tmpfs, the
# repository is mounted read-only at its host path (so CARGO_MANIFEST_DIR
# works) and the working directory is the repository. BERTH_VM=1 is set.
# Downloads (apt-get download of the kernel and busybox-static) are cached in
# vm/.cache. Exit status: 0 when every job passed, 1 otherwise.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE="$HERE/.cache"
LIST="$HERE/tests.list"
TIMEOUT=${VM_TIMEOUT:-1200}
MEM=${VM_MEMORY:-1536}

while [ $# -gt 0 ]; do
    case $1 in
        -l|--list) LIST=$2; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "vm/run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { echo "vm: $*" >&2; }
die() { echo "vm/run.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
for tool in qemu-system-x86_64 apt-get apt-cache dpkg python3 busybox gzip ldd cargo; do
    command -v "$tool" >/dev/null || die "missing $tool"
done
[ -f "$LIST" ] || die "no test list $LIST"

# --- kernel and busybox, cached -------------------------------------------
mkdir -p "$CACHE"
KPKG=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1)
[ -n "$KPKG" ] || die "no linux-image-6.1.0-*-amd64 package in apt (run apt-get update)"
KVER=${KPKG#linux-image-}
if [ ! -f "$CACHE/vmlinux-$KVER" ]; then
    say "downloading $KPKG"
    (cd "$CACHE" && rm -rf kernel ./linux-image-*.deb && apt-get download "$KPKG" >/dev/null 2>&1) || die "apt-get download $KPKG failed"
    (cd "$CACHE" && dpkg -x linux-image-*.deb kernel && rm -f linux-image-*.deb)
    python3 - "$CACHE/kernel/boot/vmlinuz-$KVER" "$CACHE/vmlinux-$KVER" <<'EOF'
import lzma, sys
data = open(sys.argv[1], "rb").read()
off = data.find(b"\xfd7zXZ\x00")
if off < 0:
    sys.exit("no xz payload in " + sys.argv[1])
out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[off:])
if out[:4] != b"\x7fELF":
    sys.exit("the payload is not an ELF kernel")
open(sys.argv[2], "wb").write(out)
EOF
    busybox depmod -b "$CACHE/kernel" "$KVER" 2>/dev/null || true
fi
if [ ! -x "$CACHE/busybox" ]; then
    say "downloading busybox-static"
    T0=$(mktemp -d)
    (cd "$T0" && apt-get download busybox-static >/dev/null 2>&1 && dpkg -x busybox-static_*.deb x) || die "apt-get download busybox-static failed"
    cp "$T0/x/bin/busybox" "$CACHE/busybox"
    rm -rf "$T0"
fi
MODDIR="$CACHE/kernel/lib/modules/$KVER"
[ -f "$MODDIR/modules.dep" ] || busybox depmod -b "$CACHE/kernel" "$KVER"

# --- test binaries ----------------------------------------------------------
W=$(mktemp -d /tmp/berth-vm.XXXXXX)
QEMU_PID=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/share/bin" "$W/share/results" "$W/root"

say "building test binaries"
: > "$W/share/jobs"
n=0
grep -v '^[[:space:]]*\(#\|$\)' "$LIST" | while read -r pkg target args; do
    n=$((n + 1))
    if [ "$target" = lib ]; then sel="--lib"; else sel="--test $target"; fi
    # shellcheck disable=SC2086
    exe=$(cd "$REPO" && cargo test -q -p "$pkg" $sel --no-run --message-format=json 2>"$W/build.err" |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m.get("profile", {}).get("test"):
        print(m["executable"])' | tail -n 1) || true
    if [ -z "$exe" ]; then
        cat "$W/build.err" >&2
        die "could not build $pkg $target"
    fi
    name="$n-$pkg-$target"
    cp "$exe" "$W/share/bin/$name"
    echo "$name $args" >> "$W/share/jobs"
done
[ -s "$W/share/jobs" ] || die "no jobs in $LIST"

# --- initramfs --------------------------------------------------------------
R="$W/root"
mkdir -p "$R/bin" "$R/sbin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/run" "$R/mnt/host" "$R/etc" "$R/root" "$R/lib/modules"
cp "$CACHE/busybox" "$R/bin/busybox"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"
# A host file and the libraries it links, at the same paths.
copy_with_libs() {
    f=$1
    mkdir -p "$R$(dirname "$f")"
    cp -L "$f" "$R$f"
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
        [ -f "$R$lib" ] && continue
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
    done
}
for b in "$W"/share/bin/*; do
    ldd "$b" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
        [ -f "$R$lib" ] && continue
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
    done
done
if [ -f "$HERE/files.list" ]; then
    grep -v '^[[:space:]]*\(#\|$\)' "$HERE/files.list" | while read -r f; do
        [ -e "$f" ] || die "vm/files.list: $f does not exist on the host"
        copy_with_libs "$f"
    done
fi
# Modules, each after its dependencies.
MODS="virtio_pci 9pnet_virtio 9p"
[ -f "$HERE/modules.list" ] && MODS="$MODS $(grep -v '^[[:space:]]*\(#\|$\)' "$HERE/modules.list" | tr '\n' ' ')"
# shellcheck disable=SC2086 # one argument per module name
python3 - "$MODDIR" "$R/lib/modules" $MODS > "$R/modules.load" <<'EOF'
import os, shutil, sys
moddir, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
deps, byname = {}, {}
for line in open(os.path.join(moddir, "modules.dep")):
    path, _, rest = line.partition(":")
    path = path.strip()
    deps[path] = rest.split()
    byname[os.path.basename(path)[:-3].replace("-", "_")] = path
order = []
def visit(p):
    if p in order:
        return
    for d in deps.get(p, []):
        visit(d)
    order.append(p)
for w in wanted:
    p = byname.get(w.replace("-", "_"))
    if p is None:
        sys.exit(f"vm: no module {w} in {moddir}")
    visit(p)
for p in order:
    shutil.copy(os.path.join(moddir, p), os.path.join(dest, os.path.basename(p)))
    print(os.path.basename(p))
EOF

# Stage 1 moves / onto a tmpfs: pivot_root(2) refuses the initramfs
# (rootfs) as the old root, and containers need pivot_root.
cat > "$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /newroot
/bin/busybox mount -t tmpfs -o mode=755 tmpfs /newroot
for d in /*; do
    [ "$d" = /newroot ] || /bin/busybox cp -a "$d" /newroot/
done
exec /bin/busybox switch_root /newroot /init2
EOF
cat > "$R/init2" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root BERTH_VM=1 RUST_BACKTRACE=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for m in \$(cat /modules.load); do insmod /lib/modules/\$m 2>/dev/null; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host0 /mnt/host
mkdir -p $REPO
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro repo $REPO
ip link set lo up 2>/dev/null
cd $REPO
echo "vm: kernel \$(uname -r), cgroup controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
while read -r name args; do
    echo "vm: running \$name \$args"
    /mnt/host/bin/\$name --test-threads=1 --nocapture \$args > /mnt/host/results/\$name.log 2>&1
    echo \$? > /mnt/host/results/\$name.rc
done < /mnt/host/jobs
echo done > /mnt/host/results/DONE
sync
poweroff -f
EOF
chmod +x "$R/init2"
chmod +x "$R/init"
(cd "$R" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$W/initrd.cpio.gz")

# --- boot -------------------------------------------------------------------
say "booting $KVER ($(wc -l < "$W/share/jobs") jobs, timeout ${TIMEOUT}s)"
timeout -s KILL "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "$MEM" -nographic -nic none -no-reboot \
    -kernel "$CACHE/vmlinux-$KVER" -initrd "$W/initrd.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1" \
    -virtfs "local,path=$W/share,mount_tag=host0,security_model=none" \
    -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on" \
    > "$W/console.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID" || true
QEMU_PID=

# --- results ----------------------------------------------------------------
status=0
while read -r name args; do
    rc=$(cat "$W/share/results/$name.rc" 2>/dev/null || echo missing)
    skipped=$(grep -ci '^skipped:' "$W/share/results/$name.log" 2>/dev/null || true)
    if [ "$rc" = 0 ] && [ "${skipped:-0}" = 0 ]; then
        summary=$(grep -E '^test result:' "$W/share/results/$name.log" | tail -n 1)
        echo "vm: ok    $name $args  ($summary)"
    elif [ "$rc" = 0 ]; then
        echo "vm: FAIL  $name $args ($skipped test(s) skipped in the guest)"
        grep -i '^skipped:' "$W/share/results/$name.log" | sed 's/^/    | /'
        status=1
    else
        echo "vm: FAIL  $name $args (exit $rc)"
        sed 's/^/    | /' "$W/share/results/$name.log" 2>/dev/null | tail -n 80
        status=1
    fi
done < "$W/share/jobs"
if [ ! -f "$W/share/results/DONE" ]; then
    echo "vm: the guest did not finish; console:"
    tail -n 40 "$W/console.log" | sed 's/^/    | /'
    status=1
fi
exit $status
