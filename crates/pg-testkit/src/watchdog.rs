//! Servers that never outlive the test process.
//!
//! A server is started as `sh -c SCRIPT program args...`. The script runs the program in the
//! background and a watchdog that reads the script's stdin, a pipe whose write end only the test
//! process holds (Rust opens it close-on-exec, so no other child inherits it). When the test
//! process ends in any way, even by SIGKILL, the pipe closes, `cat` returns, and the watchdog
//! signals the server. The script waits for the server and exits with its status, so the `Child`
//! the kit holds lives exactly as long as the server.
//!
//! Note: `Child::wait` closes the child's stdin before waiting, which stops the server; poll with
//! `try_wait` to observe a server that should keep running.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Signal the watchdog sends when the test process goes away.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StopSignal {
    /// SIGINT: PostgreSQL's "fast" shutdown.
    Int,
    /// SIGTERM: the usual termination request.
    Term,
}

/// Asynchronous commands get `/dev/null` as stdin (POSIX, without job control), so only the
/// watchdog reads the pipe, through fd 3, which is closed everywhere else.
fn script(signal: StopSignal) -> String {
    let sig = match signal {
        StopSignal::Int => "INT",
        StopSignal::Term => "TERM",
    };
    format!(
        "exec 3<&0 0</dev/null\n\
         \"$0\" \"$@\" 3<&- &\n\
         pid=$!\n\
         {{ cat >/dev/null; kill -{sig} \"$pid\" 2>/dev/null; }} <&3 3<&- &\n\
         exec 3<&-\n\
         wait \"$pid\"\n"
    )
}

/// A command running `program` under the watchdog; add the program's arguments with `arg(s)`.
/// Its stdin is set to a pipe: keep the `Child`'s stdin handle open while the server should live.
pub(crate) fn command(program: &Path, signal: StopSignal) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script(signal))
        .arg(program)
        .stdin(Stdio::piped());
    cmd
}

/// Makes the watchdog signal the server (by closing its pipe) and waits until the server, and
/// so the script, has exited.
pub(crate) fn stop_and_wait(child: &mut Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn closing_the_pipe_stops_the_program() {
        let mut child = command(Path::new("sleep"), StopSignal::Term)
            .arg("60")
            .spawn()
            .expect("sh runs");
        assert!(child.try_wait().expect("try_wait").is_none());
        let started = Instant::now();
        stop_and_wait(&mut child);
        let status = child.try_wait().expect("try_wait");
        assert!(status.is_some_and(|s| !s.success()), "{status:?}");
        // Returned because sleep was killed, not because it ran out.
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn exit_status_of_the_program_is_the_scripts() {
        let mut child = command(Path::new("false"), StopSignal::Term)
            .spawn()
            .expect("sh runs");
        // Hold the pipe open: `Child::wait` would close it first, and the watchdog would then
        // race `false` with SIGTERM.
        let _pipe = child.stdin.take();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(status.code(), Some(1));
    }
}
