//! `GET /v1/containers/{c}/exec` (WebSocket): a process in the container,
//! with a real pty (`tty=true`, the default) or pipes. Binary frames carry
//! the terminal's bytes both ways; a text frame `{"resize":[cols,rows]}`
//! resizes the pty (TIOCSWINSZ, tty_ioctl(4)). When the process ends the
//! agent sends `{"exit": code}` as a text frame and closes. 409 when the
//! container is not running. The engines (`super::engine`) start the
//! process; this module bridges it to the socket.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use berth_api::containers::ExecResize;
use futures::{SinkExt, StreamExt};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::unix::AsyncFd;

use crate::containers::Containers;
use crate::runtime::{ExecChild, ExecIo, Stdio3};

fn nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn async_fd(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    nonblocking(&fd)?;
    // SAFETY: an OwnedFd is open until dropped and always answers the same
    // raw fd, which is what `register` requires for the AsyncFd's life.
    unsafe { AsyncFd::register(fd) }.map_err(|e| std::io::Error::other(e.to_string()))
}

fn set_winsize(fd: &OwnedFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is an open pty master we own, and TIOCSWINSZ only reads
    // a `winsize` from the pointer, which is valid for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

async fn read_some(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard
            .try_io(|f| nix::unistd::read(f.get_ref().as_fd(), buf).map_err(std::io::Error::from))
        {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|f| nix::unistd::write(f.get_ref(), data).map_err(std::io::Error::from))
        {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// A started exec: the process, where its input goes, where its output
/// comes from, and its pty's master (with a terminal).
type Started = (ExecChild, OwnedFd, Vec<OwnedFd>, Option<OwnedFd>);

/// Starts the exec on a terminal the runtime makes (its master comes back
/// with the child) or on three pipes. The inner error is the runtime's.
async fn start(
    containers: &Containers,
    id: &str,
    process: oci_spec::runtime::Process,
    tty: bool,
) -> anyhow::Result<Result<Started, crate::containers::Error>> {
    let (io, pipes) = if tty {
        (ExecIo::Terminal { cols: 80, rows: 24 }, None)
    } else {
        let (in_r, in_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let stdio = Stdio3 {
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
        };
        (ExecIo::Pipes(stdio), Some((in_w, vec![out_r, err_r])))
    };
    let containers = containers.clone();
    let id = id.to_string();
    let started =
        tokio::task::spawn_blocking(move || containers.exec_start(&id, &process, io)).await?;
    let mut child = match started {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(match (child.terminal.take(), pipes) {
        (Some(m), _) => (child, m.try_clone()?, vec![m.try_clone()?], Some(m)),
        (None, Some((input, outputs))) => (child, input, outputs, None),
        (None, None) => anyhow::bail!("the runtime gave a terminal exec no terminal"),
    }))
}

/// Runs an exec of Berth's container `id` on the WebSocket until the
/// process ends or the client goes.
pub(super) async fn session(
    containers: Containers,
    id: String,
    process: oci_spec::runtime::Process,
    tty: bool,
    socket: WebSocket,
) -> anyhow::Result<()> {
    let (mut tx, mut rx) = socket.split();
    let (child, input, outputs, master) = match start(&containers, &id, process, tty).await? {
        Ok(started) => started,
        Err(e) => {
            let _ = tx
                .send(Message::Text(
                    serde_json::json!({"error": e.to_string()})
                        .to_string()
                        .into(),
                ))
                .await;
            let _ = tx.close().await;
            return Ok(());
        }
    };
    let pid = child.pid;
    let mut waiter = tokio::task::spawn_blocking(child.wait);

    let input = async_fd(input)?;
    let (readers, mut out_rx) = read_outputs(outputs)?;

    let mut exit: Option<i32> = None;
    let mut client_gone = false;
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(bytes) => {
                    if tx.send(Message::Binary(bytes.into())).await.is_err() {
                        client_gone = true;
                        break;
                    }
                }
                None => {
                    // Every output closed: the process is ending.
                    if exit.is_none() {
                        exit = Some((&mut waiter).await.unwrap_or(255));
                    }
                    break;
                }
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if write_all(&input, &b).await.is_err() && exit.is_some() {
                        break;
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    if let (Ok(r), Some(m)) = (serde_json::from_str::<ExecResize>(&t), &master) {
                        let [cols, rows] = r.resize;
                        let _ = set_winsize(m, cols, rows);
                    } else if master.is_none() {
                        let _ = write_all(&input, t.as_bytes()).await;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    client_gone = true;
                    break;
                }
                Some(Ok(_)) => {}
            },
            code = &mut waiter, if exit.is_none() => {
                exit = Some(code.unwrap_or(255));
                // Forward what the terminal still holds, until every output
                // has closed (or a grace period for orphans holding it).
                while let Ok(Some(bytes)) = tokio::time::timeout(Duration::from_secs(2), out_rx.recv()).await {
                    let _ = tx.send(Message::Binary(bytes.into())).await;
                }
                break;
            }
        }
    }
    if client_gone && exit.is_none() {
        // Nobody is watching: end the process (the pty's hangup first).
        drop(master);
        drop(input);
        hang_up(pid, waiter).await;
    } else {
        let code = exit.unwrap_or(255);
        let _ = tx
            .send(Message::Text(
                serde_json::json!({"exit": code}).to_string().into(),
            ))
            .await;
        let _ = tx.close().await;
    }
    for r in readers {
        r.abort();
    }
    Ok(())
}

/// The reading tasks, and what they read.
type Readers = (
    Vec<tokio::task::JoinHandle<()>>,
    tokio::sync::mpsc::Receiver<Vec<u8>>,
);

/// One task per output, each sending what it reads to the receiver.
fn read_outputs(outputs: Vec<OwnedFd>) -> std::io::Result<Readers> {
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let mut readers = Vec::new();
    for fd in outputs {
        let fd = async_fd(fd)?;
        let out_tx = out_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            // A pty master reads EIO once every slave is closed.
            while let Ok(n) = read_some(&fd, &mut buf).await {
                if n == 0 || out_tx.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        }));
    }
    Ok((readers, out_rx))
}

/// SIGHUP to the process, SIGKILL when it has not ended within 2 s; then
/// waits for it.
async fn hang_up(pid: u32, mut waiter: tokio::task::JoinHandle<i32>) {
    let Ok(raw) = i32::try_from(pid) else {
        // Not a pid the kernel gives: nothing to signal.
        return;
    };
    let p = nix::unistd::Pid::from_raw(raw);
    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGHUP);
    if tokio::time::timeout(Duration::from_secs(2), &mut waiter)
        .await
        .is_err()
    {
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        let _ = waiter.await;
    }
}

/// Bridges a Docker exec to the WebSocket, with the same frames.
pub(super) async fn docker_session(session: crate::docker::ExecSession, socket: WebSocket) {
    use tokio::io::AsyncWriteExt;
    let (mut tx, mut rx) = socket.split();
    let crate::docker::ExecSession {
        mut output,
        mut input,
        control,
    } = session;
    loop {
        tokio::select! {
            out = output.next() => match out {
                Some(Ok(bytes)) => {
                    if tx.send(Message::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                _ => break,
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let _ = input.write_all(&b).await;
                }
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<ExecResize>(&t) {
                    Ok(r) => control.resize(r.resize[0], r.resize[1]).await,
                    Err(_) => {
                        let _ = input.write_all(t.as_bytes()).await;
                    }
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = input.shutdown().await;
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    let code = control.exit_code().await.unwrap_or(255);
    let _ = tx
        .send(Message::Text(
            serde_json::json!({"exit": code}).to_string().into(),
        ))
        .await;
    let _ = tx.close().await;
}
