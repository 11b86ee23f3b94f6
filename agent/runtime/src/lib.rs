//! berth-runtime: an OCI runtime on Linux namespaces and cgroups, as a
//! library (used in-process by `berth-agent`) and as a runc-compatible CLI
//! (`berth-runtime`).
//!
//! # The library
//!
//! ```no_run
//! use berth_runtime::{CreateOptions, Runtime};
//! # fn main() -> Result<(), berth_runtime::Error> {
//! let rt = Runtime::new("/run/berth/runtime")?;          // state root; detects cgroup v1/v2/hybrid
//! let st = rt.create("web", "/var/lib/berth/bundles/web".as_ref(), CreateOptions::default())?;
//! // The init is now a child of this process, blocked until start.
//! rt.start("web")?;
//! // ... waitpid(st.pid()) to collect the exit status ...
//! rt.kill("web", libc::SIGTERM, false)?;
//! rt.delete("web", true)?;                               // kill leftovers, remove cgroup and state
//! # Ok(()) }
//! ```
//!
//! | call | what it does |
//! |---|---|
//! | [`Runtime::new`]`(root)` | state under `root` (`/run/berth/runtime` for the CLI); reads the cgroup layout once |
//! | [`Runtime::create`]`(id, bundle, opts)` | validates `bundle/config.json` (or `opts.spec`), makes the cgroup, clones the init **as a child of the calling process** (no double fork) and returns once the container is `created`: namespaces, mounts, pivot_root, credentials all done, the init blocked on the exec fifo |
//! | [`Runtime::start`]`(id)` | releases the init into `execve` of `process.args` |
//! | [`Runtime::state`]`(id)` / [`Runtime::list`]`()` | OCI state (`oci` field, oci-spec's type) plus created time, cgroup path, rootfs, paused |
//! | [`Runtime::kill`]`(id, signal, all)` | signal the init, or every process of the cgroup |
//! | [`Runtime::delete`]`(id, force)` | thaw → SIGKILL → wait for the cgroup to empty → rmdir; remove state; poststop hooks |
//! | [`Runtime::pause`] / [`Runtime::resume`] | the freezer |
//! | [`Runtime::stats`]`(id)` | cpu (usage, throttling), memory (usage, limit, cache, working set, OOM kills), pids, block I/O, hugetlb, PSI |
//! | [`Runtime::exec`]`(id, process, opts)` | another process in the container: joins its namespaces and cgroup, same caps / no_new_privs / seccomp / fd hygiene; returns its pid, a child of the caller |
//! | [`Runtime::processes`]`(id)` | pids in the container's cgroup |
//! | [`Runtime::update`]`(id, resources)` | new limits for a running container |
//! | [`Runtime::set_cgroup_parent`]`(path)` | where relative `cgroupsPath`s go (default `/berth`) |
//! | [`sealed::reexec_sealed`]`()` | CVE-2019-5736: re-run the current program from a sealed memfd; a long-lived caller (the agent) should call it once at start-up, before any `exec` |
//!
//! Exit status: the init (and every exec'd process) is the caller's child
//! with `SIGCHLD` as exit signal: the per-container monitor that calls
//! `create` reaps it with `waitpid(pid)`; [`wait`] is a small helper. A
//! monitor should be a subreaper or the parent itself; if the creating
//! process exits, the init is re-parented like any orphan.
//!
//! stdio: [`CreateOptions::stdio`] gives the init three fds as 0/1/2 (pipes
//! or files the monitor holds); without it the init inherits the caller's.
//! For a terminal, either set `process.terminal` and
//! [`CreateOptions::console_socket`] (runc's protocol: the pty master is
//! sent over that unix socket), or make a pty yourself and pass its slave
//! three times in `stdio` with [`CreateOptions::stdio_tty`].
//!
//! Cgroups: on v1 the init moves itself into each hierarchy (writing 0 to
//! `tasks`), which avoids an RCU grace period per start; on v2 (and the
//! cgroup2 part of hybrid) it is born in its cgroup (`CLONE_INTO_CGROUP`).
//!
//! Threads: the init runs between `clone3` and `execve` without allocating,
//! so calling `create`/`exec` from a multi-threaded (tokio) program is safe.
//! The calls block (a few ms); from async code use `spawn_blocking`.
//!
//! Cgroup stats of any cgroup, cheaply (the agent's 1 s sampler):
//! `let layout = CgroupLayout::detect()?;` once, then
//! `cgroups::Manager::new(&layout, "/berth/web")?.stats()?` — building a
//! manager costs no system call; `stats` reads about a dozen small files.
//!
//! # What config.json must hold (what the agent writes)
//!
//! ```json
//! {
//!   "ociVersion": "1.0.2",
//!   "root": {"path": "rootfs", "readonly": false},
//!   "process": {
//!     "terminal": false,
//!     "user": {"uid": 0, "gid": 0},
//!     "args": ["sh", "-c", "sleep 600"],
//!     "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
//!     "cwd": "/",
//!     "capabilities": {"bounding": ["CAP_CHOWN", "..."], "effective": ["..."], "permitted": ["..."]},
//!     "noNewPrivileges": true
//!   },
//!   "hostname": "web",
//!   "mounts": [
//!     {"destination": "/proc", "type": "proc", "source": "proc"},
//!     {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
//!     {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
//!     {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
//!     {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
//!     {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
//!   ],
//!   "linux": {
//!     "cgroupsPath": "web",
//!     "resources": {
//!       "devices": [{"allow": false, "access": "rwm"}],
//!       "memory": {"limit": 67108864},
//!       "pids": {"limit": 100},
//!       "cpu": {"quota": 50000, "period": 100000}
//!     },
//!     "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}],
//!     "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
//!     "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
//!   }
//! }
//! ```
//! - `root.path` relative to the bundle (or absolute); it must exist.
//! - A `mount` namespace is required; `network` only when the container
//!   should have no network of its own beyond loopback (or join one by
//!   `path`). With a `/dev` tmpfs the runtime adds null, zero, full, random,
//!   urandom, tty and the fd/stdin/stdout/stderr/ptmx links.
//! - `cgroupsPath`: relative → `/berth/<path>`; absolute → as given; absent →
//!   `/berth/<id>`. Limits are written before the process runs.
//! - `process.args[0]` without a `/` is looked up in the container's `PATH`
//!   (from `process.env`), at create time: a missing program fails create.
//! - Bad input fails with [`Error::Config`] naming the JSON field, and
//!   leaves nothing behind (no cgroup, mount or state).
//!
//! # Modules
//! [`cgroups`] (v1, v2, hybrid; stats), [`child`] (wait, reap, kill), [`rootfs`], [`namespaces`],
//! [`capabilities`], [`seccomp`], [`process`] (the init), [`syscall`], [`mountinfo`] (the
//! one mountinfo reader, the agent's too).

pub mod capabilities;
pub mod cgroups;
pub mod child;
pub mod config;
mod container;
mod error;
mod hooks;
pub mod mountinfo;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod sealed;
pub mod seccomp;
pub mod signal;
pub mod state;
pub mod syscall;

pub use child::wait;
pub use container::{CreateOptions, DEFAULT_ROOT, ExecOptions, Runtime};
pub use error::{Error, Result};
pub use state::State;
