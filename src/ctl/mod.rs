//! ctl: the control socket (server and client) and its framing.
//!
//! Owns the Unix-socket transport only: it never interprets a command. The
//! management core passes a handler ([`CtlHandler`]) that turns one command
//! line into a [`CtlReply`]; `xfgate ctl` uses the client side.
//!
//! # Protocol
//!
//! A request is one line of UTF-8 text ending in `\n` (a trailing `\r` is
//! ignored), at most [`CtlLimits::max_line`] bytes. Every request gets
//! exactly one reply, in order: zero or more body lines, then one status
//! line, either `OK` or `ERR <message>`. A body line that could be mistaken
//! for a status line (it is `OK`, or starts with `ERR` or with a backslash)
//! is sent with one extra leading backslash, which the client removes. So a
//! client reads lines until it sees `OK` or a line starting with `ERR`.
//!
//! A streaming reply (e.g. `monitor`) is the same framing with an unbounded
//! body: body lines arrive as events happen. The stream ends with `OK` when
//! the server side closes it, or when the client sends any line (that line is
//! consumed, not executed); it ends silently when the client disconnects.
//!
//! Limits protect the management core and the data path: at most
//! [`CtlLimits::max_clients`] connections (further ones get
//! `ERR too many clients (max N)` and are closed); an oversize line gets
//! `ERR line too long (max N bytes)` and the connection is closed; a line that
//! is not UTF-8 or contains control characters gets an `ERR` reply and the
//! connection stays usable; a client idle for [`CtlLimits::idle_timeout`] is
//! closed; a client that does not read its replies is closed after
//! [`CtlLimits::write_timeout`]. Each client has its own thread, so a slow
//! client never delays another one.

mod client;
mod server;

pub use client::{
    ctl_batch, ctl_call, parse_batch, read_batch_file, run_ctl, BatchLine, CtlClient, CtlResponse,
    DEFAULT_REPLY_TIMEOUT,
};
pub use server::{CtlHandler, CtlLimits, CtlReply, CtlServer, CtlServerHandle};

use std::path::PathBuf;

/// Errors of the control socket, client and server side.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A system call on the socket or its directory failed.
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process listens on the socket path.
    #[error("control socket {path} is in use by a running process")]
    InUse { path: PathBuf },
    /// The path exists and is not a socket: never removed.
    #[error("control socket path {path} exists and is not a socket")]
    NotSocket { path: PathBuf },
    /// The client could not connect.
    #[error("cannot connect to control socket {path}: {source} (is xfgate running?)")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The server closed the connection or broke the framing.
    #[error("control socket {path}: {msg}")]
    Protocol { path: PathBuf, msg: String },
    /// A command that cannot be sent (contains a newline).
    #[error("invalid command {line:?}: {msg}")]
    InvalidCommand { line: String, msg: &'static str },
    /// A batch file could not be read or parsed.
    #[error("{file}: {msg}")]
    Batch { file: String, msg: String },
}

/// True if `line` must be escaped to travel as a body line.
pub(crate) fn needs_escape(line: &str) -> bool {
    line == "OK" || line.starts_with("ERR") || line.starts_with('\\')
}
