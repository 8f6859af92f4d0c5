//! Control socket client, used by `xfgate ctl` and by tests.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::CtlError;
use crate::cli::CtlArgs;

/// Default time a client waits for a reply line.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlResponse {
    /// `OK` (true) or `ERR` (false).
    pub ok: bool,
    /// The body lines, unescaped, each ending in `\n`.
    pub body: String,
    /// The message of the `ERR` status line (empty when `ok`).
    pub error: String,
}

/// A connection to the control socket; several commands may be sent on it.
#[derive(Debug)]
pub struct CtlClient {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl CtlClient {
    /// Connect, with a reply timeout of [`DEFAULT_REPLY_TIMEOUT`].
    pub fn connect(path: impl AsRef<Path>) -> Result<CtlClient, CtlError> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).map_err(|source| CtlError::Connect {
            path: path.clone(),
            source,
        })?;
        let c = CtlClient {
            path,
            reader: BufReader::new(stream),
        };
        c.set_timeout(Some(DEFAULT_REPLY_TIMEOUT))?;
        Ok(c)
    }

    fn io(&self, source: std::io::Error) -> CtlError {
        CtlError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// How long to wait for each reply line (`None`: forever, e.g. `monitor`).
    pub fn set_timeout(&self, t: Option<Duration>) -> Result<(), CtlError> {
        self.reader
            .get_ref()
            .set_read_timeout(t)
            .map_err(|e| self.io(e))
    }

    /// Send one command and collect its whole reply.
    pub fn call(&mut self, line: &str) -> Result<CtlResponse, CtlError> {
        let mut body = String::new();
        let status = self.call_streaming(line, &mut |l| {
            body.push_str(l);
            body.push('\n');
            true
        })?;
        Ok(CtlResponse { body, ..status })
    }

    /// Send one command and pass each body line to `on_line` as it arrives
    /// (for streams). When `on_line` returns false, the client asks the
    /// server to end the stream and keeps reading until the status line.
    /// The returned response has an empty body.
    pub fn call_streaming(
        &mut self,
        line: &str,
        on_line: &mut dyn FnMut(&str) -> bool,
    ) -> Result<CtlResponse, CtlError> {
        if line.contains('\n') || line.contains('\r') {
            return Err(CtlError::InvalidCommand {
                line: line.to_string(),
                msg: "a command is one line",
            });
        }
        let mut req = String::with_capacity(line.len() + 1);
        req.push_str(line);
        req.push('\n');
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| self.io(e))?;
        let mut want_more = true;
        let mut buf = String::new();
        loop {
            buf.clear();
            let n = match self.reader.read_line(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            if n == 0 {
                return Err(CtlError::Protocol {
                    path: self.path.clone(),
                    msg: "connection closed before the reply ended".into(),
                });
            }
            let l = buf.strip_suffix('\n').unwrap_or(&buf);
            if l == "OK" {
                return Ok(CtlResponse {
                    ok: true,
                    body: String::new(),
                    error: String::new(),
                });
            }
            if let Some(msg) = l.strip_prefix("ERR") {
                return Ok(CtlResponse {
                    ok: false,
                    body: String::new(),
                    error: msg.trim_start().to_string(),
                });
            }
            let l = l.strip_prefix('\\').unwrap_or(l);
            if want_more && !on_line(l) {
                want_more = false;
                self.reader
                    .get_mut()
                    .write_all(b"\n")
                    .map_err(|e| self.io(e))?;
            }
        }
    }
}

/// Connect, send one command, return its reply.
pub fn ctl_call(path: impl AsRef<Path>, line: &str) -> Result<CtlResponse, CtlError> {
    CtlClient::connect(path)?.call(line)
}

/// Send commands in order on one connection; stops after the first `ERR`
/// (whose response is the last one returned), like `ip -batch`.
pub fn ctl_batch<S: AsRef<str>>(
    path: impl AsRef<Path>,
    lines: &[S],
) -> Result<Vec<CtlResponse>, CtlError> {
    let mut c = CtlClient::connect(path)?;
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let r = c.call(l.as_ref())?;
        let ok = r.ok;
        out.push(r);
        if !ok {
            break;
        }
    }
    Ok(out)
}

/// One command of a batch file with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLine {
    pub line: usize,
    pub text: String,
}

/// Split a batch text into commands: `#` starts a comment line, blank lines
/// are skipped, a line ending in `\` continues on the next one.
pub fn parse_batch(text: &str) -> Vec<BatchLine> {
    let mut out = Vec::new();
    let mut cur: Option<BatchLine> = None;
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim();
        if cur.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        let (piece, cont) = match trimmed.strip_suffix('\\') {
            Some(p) => (p.trim_end(), true),
            None => (trimmed, false),
        };
        let entry = cur.get_or_insert_with(|| BatchLine {
            line: i + 1,
            text: String::new(),
        });
        if !entry.text.is_empty() && !piece.is_empty() {
            entry.text.push(' ');
        }
        entry.text.push_str(piece);
        if !cont {
            if let Some(e) = cur.take().filter(|e| !e.text.is_empty()) {
                out.push(e);
            }
        }
    }
    if let Some(e) = cur.filter(|e| !e.text.is_empty()) {
        out.push(e);
    }
    out
}

/// Read and split a batch file (`-` reads standard input).
pub fn read_batch_file(path: &Path) -> Result<Vec<BatchLine>, CtlError> {
    let name = path.display().to_string();
    let text = if name == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| CtlError::Batch {
        file: name.clone(),
        msg: e.to_string(),
    })?;
    Ok(parse_batch(&text))
}

/// Run `xfgate ctl`: body lines go to `out` as they arrive, errors to `err`
/// (`error: MSG`, or `FILE:LINE: MSG` in a batch). Returns whether every
/// command succeeded (the exit status); a batch stops at its first error.
pub fn run_ctl(args: &CtlArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<bool, CtlError> {
    let with_json = |l: &str| {
        if args.json {
            format!("{l} --json")
        } else {
            l.to_string()
        }
    };
    let commands: Vec<(Option<usize>, String)> = match &args.batch {
        Some(f) => read_batch_file(f)?
            .into_iter()
            .map(|b| (Some(b.line), with_json(&b.text)))
            .collect(),
        None => vec![(None, with_json(&args.command_line()))],
    };
    let mut client = CtlClient::connect(&args.ctl)?;
    for (line_no, cmd) in commands {
        let streaming = cmd.split_whitespace().next() == Some("monitor");
        client.set_timeout(if streaming {
            None
        } else {
            Some(DEFAULT_REPLY_TIMEOUT)
        })?;
        let mut write_failed = false;
        let r = client.call_streaming(&cmd, &mut |l| {
            write_failed = writeln!(out, "{l}").and_then(|_| out.flush()).is_err();
            !write_failed
        })?;
        if !r.ok {
            let _ = match (line_no, &args.batch) {
                (Some(n), Some(f)) => writeln!(err, "{}:{n}: {}", f.display(), r.error),
                _ => writeln!(err, "error: {}", r.error),
            };
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::{CtlReply, CtlServer};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn run_ctl_single_command_json_and_batch() {
        let dir = std::env::temp_dir().join(format!("xfgate-runctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sock = dir.join("c.sock");
        let server = CtlServer::bind(&sock).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let h = server
            .serve(
                Arc::new(|l: &str| match l.strip_prefix("bad") {
                    Some(rest) => CtlReply::Err(format!("bad command{rest}")),
                    None => CtlReply::Ok(format!("got [{l}]\nsecond")),
                }),
                stop.clone(),
            )
            .unwrap();
        let args = |words: &[&str], json: bool, batch: Option<PathBuf>| CtlArgs {
            ctl: sock.clone(),
            json,
            batch,
            words: words.iter().map(|w| w.to_string()).collect(),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(run_ctl(
            &args(&["flows", "--limit", "3"], true, None),
            &mut out,
            &mut err
        )
        .unwrap());
        assert_eq!(
            String::from_utf8_lossy(&out),
            "got [flows --limit 3 --json]\nsecond\n"
        );
        assert!(err.is_empty());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!run_ctl(&args(&["bad", "x"], false, None), &mut out, &mut err).unwrap());
        assert_eq!(String::from_utf8_lossy(&err), "error: bad command x\n");
        // Batch: stops at the first error, reported with file and line.
        let file = dir.join("cmds");
        std::fs::write(&file, "# c\nstats\n\nbad one \\\n two\nstats\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!run_ctl(&args(&[], false, Some(file.clone())), &mut out, &mut err).unwrap());
        assert_eq!(String::from_utf8_lossy(&out), "got [stats]\nsecond\n");
        assert_eq!(
            String::from_utf8_lossy(&err),
            format!("{}:4: bad command one two\n", file.display())
        );
        let missing = run_ctl(
            &args(&[], false, Some(dir.join("nope"))),
            &mut out,
            &mut err,
        );
        assert!(matches!(missing, Err(CtlError::Batch { .. })));
        stop.store(true, Ordering::Release);
        h.join();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn batch_comments_blank_lines_and_continuations() {
        let text = "# header\n\npolicy add src 10.0.0.0/8 \\\n   dst 10.1.0.0/16 dir out\r\n  stats  \n# end\nroute list \\\n";
        let b = parse_batch(text);
        assert_eq!(
            b,
            vec![
                BatchLine {
                    line: 3,
                    text: "policy add src 10.0.0.0/8 dst 10.1.0.0/16 dir out".into()
                },
                BatchLine {
                    line: 5,
                    text: "stats".into()
                },
                BatchLine {
                    line: 7,
                    text: "route list".into()
                },
            ]
        );
        assert!(parse_batch("").is_empty());
        assert!(parse_batch("\\\n\\\n").is_empty());
    }
}
