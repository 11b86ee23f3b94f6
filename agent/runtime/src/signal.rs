//! Signal names and numbers as `kill` takes them: `SIGTERM`, `TERM`,
//! `term`, `15`, `RTMIN+3`. The one parser of the runtime's CLI and of the
//! agent (`?signal=` of a kill, a container's stop signal); the API only
//! checks the spelling and leaves which signals exist to the host. Also
//! the one raw kill(2) that can send any of them ([`kill`]).

use nix::errno::Errno;

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal name or number; the error says what was wrong.
pub fn parse(s: &str) -> Result<i32, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(format!("signal {s:?} is not a signal number (1 to 64)"));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rt) = name.strip_prefix("RTMIN") {
        let off: i32 = match rt {
            "" => 0,
            r => r
                .strip_prefix('+')
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| format!("signal {s:?}: RTMIN takes +N"))?,
        };
        let n = libc::SIGRTMIN() + off;
        if !(libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
            return Err(format!("signal {s:?} is past SIGRTMAX"));
        }
        return Ok(n);
    }
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!("unknown signal {s:?}: use a name such as TERM, KILL, HUP or a number")
        })
}

/// Sends signal number `signal` (any, real-time ones included) to `pid`.
pub fn kill(pid: i32, signal: i32) -> Result<(), Errno> {
    // SAFETY: kill(2) takes integers only.
    if unsafe { libc::kill(pid, signal) } < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("term"), Ok(15));
        assert_eq!(parse(" 10 "), Ok(10));
        assert_eq!(parse("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse("SIGRTMIN+3"), Ok(libc::SIGRTMIN() + 3));
    }

    #[test]
    fn bad_ones_say_why() {
        assert!(parse("SIGNOPE").unwrap_err().contains("unknown signal"));
        assert!(parse("99").unwrap_err().contains("not a signal number"));
        assert!(parse("0").is_err());
        assert!(parse("RTMIN+99").unwrap_err().contains("past SIGRTMAX"));
        assert!(parse("RTMIN-1").is_err());
    }
}
