# The differential harness's probe: run by the busybox in the rootfs as
# `sh /probe.sh [masked:PATH | readonly:PATH | sysctl:NAME]...`, it prints
# what the container's process sees, in sections (`== name`) of raw lines
# or `key=value` lines; the harness parses them (differential/probe.rs)
# and normalises what legitimately differs between runtimes. Few forks:
# the probe runs three times per variant.
echo "== status"; cat /proc/self/status
echo "== limits"; cat /proc/self/limits
echo "== mountinfo"; cat /proc/self/mountinfo
echo "== env"; env
echo "== ns"; ls -l /proc/self/ns
echo "== kv"
v=; read -r v < /proc/self/oom_score_adj; echo "oom_score_adj=$v"
printf 'umask='; umask
printf 'cwd='; pwd -P
v=; read -r v < /proc/sys/kernel/hostname; echo "hostname=$v"
v=; read -r v < /proc/sys/kernel/domainname; echo "domainname=$v"
for arg in "$@"; do
    kind=${arg%%:*}; p=${arg#*:}
    case $kind in
        masked|readonly)
            if [ -d "$p" ]; then what="dir entries=$(ls -A "$p" 2>/dev/null | wc -l)"
            elif [ -e "$p" ]; then what="file bytes=$(head -c 4096 "$p" 2>/dev/null | wc -c)"
            else what=absent; fi
            # Writable? Tried without changing anything: an empty append to
            # a file, a directory made and removed in a directory (busybox's
            # `test -w` says yes to root whatever the mount).
            if [ -d "$p" ]; then
                d="$p/.berth-probe-$RANDOM$RANDOM"
                w=$(mkdir "$d" 2>&1 && rmdir "$d" && echo writable)
            elif [ -e "$p" ]; then
                w=$( (: >> "$p") 2>&1 && echo writable)
            else w=-; fi
            echo "$kind.$p=$what ${w##*: }" ;;
        sysctl)
            f=/proc/sys/$(echo "$p" | tr . /)
            v=; read -r v < "$f" 2>/dev/null || v="(unreadable)"
            echo "sysctl.$p=$v" ;;
    esac
done
for c in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes \
    memory/memory.swappiness pids/pids.max cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us \
    cpuset/cpuset.cpus cpuset/cpuset.mems memory.max pids.max cpu.max cpu.weight; do
    v=none; [ -r "/sys/fs/cgroup/$c" ] && read -r v < "/sys/fs/cgroup/$c"
    echo "cgroup.$c=$v"
done
echo probe.end=1
