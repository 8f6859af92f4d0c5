//! Control socket server: bind, accept, one thread per client.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{needs_escape, CtlError};

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Bounds of the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtlLimits {
    /// Simultaneous connections; more are refused with one `ERR` line.
    pub max_clients: usize,
    /// Longest request line in bytes (without the newline).
    pub max_line: usize,
    /// A connection with no input for this long is closed (not during a stream).
    pub idle_timeout: Duration,
    /// A reply write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
}

impl Default for CtlLimits {
    fn default() -> Self {
        CtlLimits {
            max_clients: 16,
            max_line: 64 * 1024,
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// What the handler answers to one command line.
pub enum CtlReply {
    /// Success; the body may be empty or span several lines.
    Ok(String),
    /// Failure; the first line becomes the `ERR` status, further lines the body.
    Err(String),
    /// A stream of body lines, forwarded until the sender is dropped (then
    /// `OK`), the client sends a line (then `OK`) or disconnects, or the
    /// server stops.
    Stream(Receiver<String>),
}

/// Turns one command line (without newline) into a reply. Called on the
/// client's thread; several clients may call it concurrently.
pub type CtlHandler = Arc<dyn Fn(&str) -> CtlReply + Send + Sync>;

/// A bound, not yet serving, control socket.
#[derive(Debug)]
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
    limits: CtlLimits,
}

/// The running server: [`CtlServerHandle::join`] after setting the stop flag.
#[derive(Debug)]
pub struct CtlServerHandle {
    thread: JoinHandle<()>,
    path: PathBuf,
}

impl CtlServerHandle {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wait until the acceptor and every client thread have exited (they do
    /// within ~50 ms of the stop flag being set). The socket file is removed.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CtlError + '_ {
    move |source| CtlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl CtlServer {
    /// Bind with the default limits. See [`CtlServer::bind_with`].
    pub fn bind(path: impl AsRef<Path>) -> Result<CtlServer, CtlError> {
        Self::bind_with(path, CtlLimits::default())
    }

    /// Create the parent directory if missing (mode 0700, existing
    /// directories are left alone), remove a stale socket at `path` (only if
    /// it is a socket nobody listens on), bind, and set the socket's mode to
    /// 0600.
    pub fn bind_with(path: impl AsRef<Path>, limits: CtlLimits) -> Result<CtlServer, CtlError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io_err(parent))?;
            }
        }
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(CtlError::InUse {
                        path: path.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    fs::remove_file(path).map_err(io_err(path))?;
                }
                Err(e) => return Err(io_err(path)(e)),
            },
            Ok(_) => {
                return Err(CtlError::NotSocket {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let listener = UnixListener::bind(path).map_err(io_err(path))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err(path))?;
        listener.set_nonblocking(true).map_err(io_err(path))?;
        Ok(CtlServer {
            listener,
            path: path.to_path_buf(),
            limits,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serve on a new thread until `stop` is set.
    pub fn serve(
        self,
        handler: CtlHandler,
        stop: Arc<AtomicBool>,
    ) -> Result<CtlServerHandle, CtlError> {
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("xfgate-ctl".into())
            .spawn(move || self.accept_loop(handler, stop))
            .map_err(io_err(&path))?;
        Ok(CtlServerHandle { thread, path })
    }

    fn accept_loop(self, handler: CtlHandler, stop: Arc<AtomicBool>) {
        let active = Arc::new(AtomicUsize::new(0));
        let mut clients: Vec<JoinHandle<()>> = Vec::new();
        while !stop.load(Ordering::Acquire) {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    clients.retain(|h| !h.is_finished());
                    if active.load(Ordering::Acquire) >= self.limits.max_clients {
                        let _ = stream.set_write_timeout(Some(POLL));
                        let _ = writeln!(
                            stream,
                            "ERR too many clients (max {})",
                            self.limits.max_clients
                        );
                        continue;
                    }
                    active.fetch_add(1, Ordering::AcqRel);
                    let guard = ActiveGuard(active.clone());
                    let conn = Conn {
                        stream,
                        buf: Vec::new(),
                        limits: self.limits,
                        stop: stop.clone(),
                        handler: handler.clone(),
                    };
                    match std::thread::Builder::new()
                        .name("xfgate-ctl-client".into())
                        .spawn(move || {
                            let _guard = guard;
                            conn.run();
                        }) {
                        Ok(h) => clients.push(h),
                        // Out of threads: the closure (and its guard and
                        // stream) is dropped, which closes the connection.
                        Err(_) => continue,
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: nobody is waiting. Other errors (EMFILE, ...)
                // are transient from our point of view: back off the same way.
                Err(_) => std::thread::sleep(POLL),
            }
        }
        for h in clients {
            let _ = h.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether the connection stays open after a reply.
#[derive(PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    limits: CtlLimits,
    stop: Arc<AtomicBool>,
    handler: CtlHandler,
}

fn push_body_line(out: &mut String, line: &str) {
    if needs_escape(line) {
        out.push('\\');
    }
    out.push_str(line);
    out.push('\n');
}

impl Conn {
    fn run(mut self) {
        // Accepted sockets may inherit non-blocking mode on some platforms.
        if self.stream.set_nonblocking(false).is_err()
            || self.stream.set_read_timeout(Some(POLL)).is_err()
            || self
                .stream
                .set_write_timeout(Some(self.limits.write_timeout))
                .is_err()
        {
            return;
        }
        let mut chunk = [0u8; 4096];
        let mut last_input = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if pos > self.limits.max_line {
                    self.refuse_oversize();
                    return;
                }
                if self.handle_line(&line[..pos]) == Next::Close {
                    return;
                }
                last_input = Instant::now();
            }
            if self.buf.len() > self.limits.max_line {
                self.refuse_oversize();
                return;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    last_input = Instant::now();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if last_input.elapsed() >= self.limits.idle_timeout {
                        let _ = self.stream.write_all(b"ERR idle timeout\n");
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn refuse_oversize(&mut self) {
        let _ = writeln!(
            self.stream,
            "ERR line too long (max {} bytes)",
            self.limits.max_line
        );
    }

    fn send(&mut self, s: &str) -> Next {
        match self.stream.write_all(s.as_bytes()) {
            Ok(()) => Next::Continue,
            Err(_) => Next::Close,
        }
    }

    fn handle_line(&mut self, raw: &[u8]) -> Next {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            return self.send("ERR invalid UTF-8 in command\n");
        };
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return self.send("ERR control characters in command\n");
        }
        let line = line.trim();
        if line.is_empty() {
            return self.send("OK\n");
        }
        let handler = self.handler.clone();
        let reply = catch_unwind(AssertUnwindSafe(|| handler(line)))
            .unwrap_or_else(|_| CtlReply::Err("internal error while handling the command".into()));
        match reply {
            CtlReply::Ok(body) => {
                let mut out = String::with_capacity(body.len() + 8);
                for l in body.lines() {
                    push_body_line(&mut out, l);
                }
                out.push_str("OK\n");
                self.send(&out)
            }
            CtlReply::Err(msg) => {
                let mut lines = msg.lines();
                let first = lines.next().unwrap_or("error");
                let mut out = String::with_capacity(msg.len() + 8);
                for l in lines {
                    push_body_line(&mut out, l);
                }
                out.push_str("ERR ");
                out.push_str(first);
                out.push('\n');
                self.send(&out)
            }
            CtlReply::Stream(rx) => self.stream_reply(rx),
        }
    }

    fn stream_reply(&mut self, rx: Receiver<String>) -> Next {
        let mut chunk = [0u8; 1024];
        let mut last_check = Instant::now();
        loop {
            if self.stop.load(Ordering::Acquire) {
                return self.send("OK\n");
            }
            match rx.recv_timeout(POLL) {
                Ok(event) => {
                    let mut out = String::with_capacity(event.len() + 2);
                    for l in event.lines() {
                        push_body_line(&mut out, l);
                    }
                    if self.send(&out) == Next::Close {
                        return Next::Close;
                    }
                    // A busy stream still looks at the client every POLL.
                    if last_check.elapsed() < POLL {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return self.send("OK\n"),
                Err(RecvTimeoutError::Timeout) => {}
            }
            last_check = Instant::now();
            // Between events: has the client hung up or asked to stop?
            if self.stream.set_nonblocking(true).is_err() {
                return Next::Close;
            }
            let r = self.stream.read(&mut chunk);
            if self.stream.set_nonblocking(false).is_err() {
                return Next::Close;
            }
            match r {
                Ok(0) => return Next::Close,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                        self.buf.drain(..=pos);
                        return self.send("OK\n");
                    }
                    if self.buf.len() > self.limits.max_line {
                        self.refuse_oversize();
                        return Next::Close;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => return Next::Close,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::{ctl_batch, ctl_call, CtlClient};
    use std::io::{BufRead, BufReader};
    use std::sync::atomic::AtomicU32;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "xfgate-ctl-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn echo_handler() -> CtlHandler {
        Arc::new(|line: &str| {
            let mut words = line.splitn(2, ' ');
            match (words.next(), words.next()) {
                (Some("echo"), rest) => CtlReply::Ok(rest.unwrap_or("").replace("\\n", "\n")),
                (Some("fail"), rest) => CtlReply::Err(rest.unwrap_or("").replace("\\n", "\n")),
                (Some("panic"), _) => panic!("handler bug"),
                (Some("count"), Some(n)) => {
                    let n: u32 = n.parse().unwrap_or(0);
                    let (tx, rx) = crossbeam_channel::bounded(4);
                    std::thread::spawn(move || {
                        for i in 0..n {
                            if tx.send(format!("event {i}")).is_err() {
                                return;
                            }
                        }
                    });
                    CtlReply::Stream(rx)
                }
                (Some("forever"), _) => {
                    let (tx, rx) = crossbeam_channel::bounded(4);
                    std::thread::spawn(move || {
                        let mut i = 0u64;
                        while tx.send(format!("tick {i}")).is_ok() {
                            i += 1;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    });
                    CtlReply::Stream(rx)
                }
                _ => CtlReply::Err(format!("unknown command '{line}'")),
            }
        })
    }

    struct Running {
        stop: Arc<AtomicBool>,
        handle: Option<CtlServerHandle>,
        path: PathBuf,
        _dir: TempDir,
    }
    impl Drop for Running {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Release);
            if let Some(h) = self.handle.take() {
                h.join();
            }
        }
    }

    fn start(limits: CtlLimits) -> Running {
        let dir = TempDir::new();
        let path = dir.0.join("run/xfgate/test.sock");
        let server = CtlServer::bind_with(&path, limits).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = server.serve(echo_handler(), stop.clone()).unwrap();
        Running {
            stop,
            handle: Some(handle),
            path,
            _dir: dir,
        }
    }

    fn read_line(r: &mut BufReader<UnixStream>) -> String {
        let mut s = String::new();
        r.read_line(&mut s).unwrap();
        s
    }

    #[test]
    fn modes_round_trip_and_escaping() {
        let srv = start(CtlLimits::default());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&srv.path), 0o600);
        assert_eq!(mode(srv.path.parent().unwrap()), 0o700);
        assert_eq!(mode(srv.path.parent().unwrap().parent().unwrap()), 0o700);
        assert!(fs::metadata(&srv.path).unwrap().file_type().is_socket());

        let mut c = CtlClient::connect(&srv.path).unwrap();
        let r = c.call("echo hello world").unwrap();
        assert_eq!(
            (r.ok, r.body.as_str(), r.error.as_str()),
            (true, "hello world\n", "")
        );
        // Body lines that look like status lines survive the framing.
        let r = c
            .call("echo OK\\nERR not an error\\n\\back\\nlast")
            .unwrap();
        assert!(r.ok);
        assert_eq!(r.body, "OK\nERR not an error\n\\back\nlast\n");
        let r = c.call("echo").unwrap();
        assert_eq!((r.ok, r.body.as_str()), (true, ""));
        let r = c.call("fail bad token 'x'\\n  ^ here").unwrap();
        assert_eq!(
            (r.ok, r.error.as_str(), r.body.as_str()),
            (false, "bad token 'x'", "  ^ here\n")
        );
        let r = c.call("panic").unwrap();
        assert!(!r.ok && r.error.contains("internal error"), "{r:?}");
        // The connection survives all of the above.
        assert_eq!(c.call("echo again").unwrap().body, "again\n");
        assert!(c.call("two\nlines").is_err());
        // Raw protocol: exactly the documented bytes.
        let s = UnixStream::connect(&srv.path).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        (&s).write_all(b"echo OK\r\n\n").unwrap();
        assert_eq!(read_line(&mut r), "\\OK\n");
        assert_eq!(read_line(&mut r), "OK\n");
        assert_eq!(read_line(&mut r), "OK\n"); // the empty line
    }

    #[test]
    fn garbage_gets_errors_not_a_crash() {
        let srv = start(CtlLimits::default());
        let s = UnixStream::connect(&srv.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        (&s).write_all(&[0xff, 0xfe, 0x80, b'\n']).unwrap();
        assert_eq!(read_line(&mut r), "ERR invalid UTF-8 in command\n");
        (&s).write_all(b"echo \x00\x01\x1b[2J\n").unwrap();
        assert_eq!(read_line(&mut r), "ERR control characters in command\n");
        let junk: Vec<u8> = (0..=255u8)
            .cycle()
            .take(3000)
            .filter(|&b| b != b'\n')
            .collect();
        (&s).write_all(&junk).unwrap();
        (&s).write_all(b"\n").unwrap();
        assert!(read_line(&mut r).starts_with("ERR "));
        (&s).write_all(b"no such command\n").unwrap();
        assert_eq!(read_line(&mut r), "ERR unknown command 'no such command'\n");
        (&s).write_all(b"echo still alive\n").unwrap();
        assert_eq!(read_line(&mut r), "still alive\n");
        assert_eq!(read_line(&mut r), "OK\n");
    }

    #[test]
    fn oversize_line_is_refused_and_closed() {
        let srv = start(CtlLimits {
            max_line: 1024,
            ..CtlLimits::default()
        });
        // Without a newline: refused once the buffer exceeds the bound.
        let s = UnixStream::connect(&srv.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let _ = (&s).write_all(&[b'a'; 4000]);
        assert_eq!(read_line(&mut r), "ERR line too long (max 1024 bytes)\n");
        assert_eq!(read_line(&mut r), "", "connection closed");
        // With a newline in the same write: same answer.
        let s = UnixStream::connect(&srv.path).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut big = vec![b'e'; 1500];
        big.push(b'\n');
        let _ = (&s).write_all(&big);
        assert_eq!(read_line(&mut r), "ERR line too long (max 1024 bytes)\n");
        // Exactly at the bound is fine.
        let line = format!("echo {}", "x".repeat(1024 - 5));
        assert_eq!(ctl_call(&srv.path, &line).unwrap().body.len(), 1024 - 5 + 1);
    }

    #[test]
    fn clients_beyond_the_bound_are_refused_cleanly() {
        let srv = start(CtlLimits {
            max_clients: 2,
            ..CtlLimits::default()
        });
        let mut a = CtlClient::connect(&srv.path).unwrap();
        let mut b = CtlClient::connect(&srv.path).unwrap();
        assert!(a.call("echo a").unwrap().ok);
        assert!(b.call("echo b").unwrap().ok);
        let s = UnixStream::connect(&srv.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s);
        assert_eq!(read_line(&mut r), "ERR too many clients (max 2)\n");
        assert_eq!(read_line(&mut r), "");
        // A refused client through the API gets the error, not a hang
        // (or a write error if the server closed first).
        if let Ok(r) = ctl_call(&srv.path, "echo c") {
            assert!(!r.ok);
            assert_eq!(r.error, "too many clients (max 2)");
        }
        // Once a slot frees up, new clients are served again.
        drop(a);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match ctl_call(&srv.path, "echo c") {
                Ok(r) if r.ok => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                other => panic!("slot never freed: {other:?}"),
            }
        }
        assert!(b.call("echo b").unwrap().ok);
    }

    #[test]
    fn silent_client_blocks_nobody_and_times_out() {
        // Default idle timeout (10 min): if silent clients could block the
        // others, these calls would hit the client's reply timeout and fail.
        let srv = start(CtlLimits::default());
        let _silent = UnixStream::connect(&srv.path).unwrap();
        let partial = UnixStream::connect(&srv.path).unwrap();
        (&partial).write_all(b"echo never finish").unwrap();
        for i in 0..5 {
            let r = ctl_call(&srv.path, &format!("echo {i}")).unwrap();
            assert_eq!(r.body, format!("{i}\n"));
        }
        // A short idle timeout closes a silent client with a message.
        let srv = start(CtlLimits {
            idle_timeout: Duration::from_millis(200),
            ..CtlLimits::default()
        });
        let silent = UnixStream::connect(&srv.path).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut r = BufReader::new(silent);
        assert_eq!(read_line(&mut r), "ERR idle timeout\n");
        assert_eq!(read_line(&mut r), "");
    }

    #[test]
    fn streams_end_by_server_or_client() {
        let srv = start(CtlLimits::default());
        let mut c = CtlClient::connect(&srv.path).unwrap();
        let r = c.call("count 3").unwrap();
        assert!(r.ok);
        assert_eq!(r.body, "event 0\nevent 1\nevent 2\n");
        // The client stops an endless stream after two events.
        let mut seen = Vec::new();
        let r = c
            .call_streaming("forever", &mut |l| {
                seen.push(l.to_string());
                seen.len() < 2
            })
            .unwrap();
        assert!(r.ok);
        assert!(
            seen.len() >= 2 && seen[0] == "tick 0" && seen[1] == "tick 1",
            "{seen:?}"
        );
        // The connection is usable afterwards.
        assert_eq!(c.call("echo after").unwrap().body, "after\n");
        // A client that vanishes mid-stream frees its slot (the server notices).
        let s = UnixStream::connect(&srv.path).unwrap();
        (&s).write_all(b"forever\n").unwrap();
        drop(s);
        assert!(ctl_call(&srv.path, "echo fine").unwrap().ok);
    }

    #[test]
    fn batch_stops_at_first_error() {
        let srv = start(CtlLimits::default());
        let r = ctl_batch(&srv.path, &["echo 1", "fail nope", "echo 3"]).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0].ok && !r[1].ok);
        assert_eq!(r[1].error, "nope");
    }

    #[test]
    fn stale_socket_in_use_and_not_a_socket() {
        let dir = TempDir::new();
        fs::create_dir_all(&dir.0).unwrap();
        // Stale: a socket file nobody listens on is replaced.
        let path = dir.0.join("stale.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        assert!(matches!(
            UnixStream::connect(&path).map_err(|e| e.kind()),
            Err(ErrorKind::ConnectionRefused)
        ));
        let server = CtlServer::bind(&path).unwrap();
        // In use: a second server on the same path is refused; the first keeps working.
        match CtlServer::bind(&path) {
            Err(CtlError::InUse { path: p }) => assert_eq!(p, path),
            other => panic!("expected InUse, got {other:?}"),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let h = server.serve(echo_handler(), stop.clone()).unwrap();
        assert_eq!(ctl_call(&path, "echo x").unwrap().body, "x\n");
        // Stopping removes the socket file.
        stop.store(true, Ordering::Release);
        h.join();
        assert!(!path.exists());
        // Not a socket: left alone.
        let file = dir.0.join("regular");
        fs::write(&file, b"keep me").unwrap();
        assert!(matches!(
            CtlServer::bind(&file),
            Err(CtlError::NotSocket { .. })
        ));
        assert_eq!(fs::read(&file).unwrap(), b"keep me");
        // A connect to a missing socket says so.
        let e = ctl_call(dir.0.join("none.sock"), "echo").unwrap_err();
        assert!(e.to_string().contains("is xfgate running?"), "{e}");
    }
}
