//! The configuration and command grammar: one grammar for the config file
//! (`-f FILE`), `xfgate ctl ...` (one command per line) and `xfgate ctl -batch FILE`.
//!
//! Text goes in, typed [`Command`]s built from the spec types come out; this
//! module applies nothing. It accepts DPDK ipsec-secgw lines (`sp`, `sa`, `rt`,
//! `neigh`), iproute2 `ip xfrm policy|state ...` lines (with or without the
//! leading `ip xfrm`), and xfgate's own `route`, `neigh`, `stats`, `flows`,
//! `monitor`. [`Command`]'s `Display` prints the ip-xfrm form, which parses back
//! to the same command. The grammar reference is `docs/config.md`.
//!
//! Owns: lexing, parsing, formatting. May not touch: the tables (mgmt executes
//! the commands).

mod command;
mod lex;
mod parse;

pub use command::Command;
pub use parse::{parse_file, parse_line, DEFAULT_REPLAY_WINDOW, SECGW_PRI_MAX};

use std::fmt;

/// Where a command starts: the line and column of its first token (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Located {
    pub line: u32,
    pub col: u32,
}

/// A syntax or value error in one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based physical line (1 for [`parse_line`]).
    pub line: u32,
    /// 1-based column, in characters, of the offending token.
    pub col: u32,
    pub msg: String,
    /// The offending token as written.
    pub token: String,
}

impl fmt::Display for ParseError {
    /// `LINE:COLUMN: message (at 'TOKEN')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (at '{}')",
            self.line, self.col, self.msg, self.token
        )
    }
}

/// An error loading a file: the first bad line aborts the load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}:{}: {} (at '{}')", .error.line, .error.col, .error.msg, .error.token)]
pub struct ConfigError {
    pub file: String,
    pub error: ParseError,
}
