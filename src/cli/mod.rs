//! cli: the command line, parsed into typed arguments.
//!
//! `xfgate [EAL options] -- [app options]`, `xfgate demo [options]` and
//! `xfgate ctl [options] COMMAND...`. This module only parses and validates;
//! it opens no file and starts nothing (the binary does), so a bad command
//! line never leaves anything half-started. Errors are [`CliError`], one line
//! each, naming the offending argument; print them as `xfgate: {error}`
//! ([`CliError::line`]).

mod eal;

pub use eal::{EalArgs, LcoreLayout, LcoreList, MAX_LCORE};

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default per-lcore flow-cache capacity (`--flows`).
pub const DEFAULT_FLOWS: usize = 65536;
/// Largest `--flows`.
pub const MAX_FLOWS: usize = 1 << 24;
/// Default anti-replay window (`--replay-window`).
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;
/// Largest `--replay-window`.
pub const MAX_REPLAY_WINDOW: u32 = 4096;
/// Smallest `--mtu` (RFC 791: every IPv4 module must forward 68-byte datagrams).
pub const MIN_MTU: u16 = 68;
/// Largest `--mtu` (jumbo frames; the packet buffers are sized from it).
pub const MAX_MTU: u16 = 9600;
/// Default live statistics interval.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(1);

/// A command-line error: one line naming the offending argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error("unknown EAL option '{0}' (application options go after '--'; see --help)")]
    UnknownEalOption(String),
    #[error(
        "'{0}' is an application option: put it after '--' (xfgate [EAL options] -- [app options])"
    )]
    AppOptionBeforeDashDash(String),
    #[error("unknown option '{opt}' for '{cmd}' (see --help)")]
    UnknownOption { cmd: &'static str, opt: String },
    #[error("option '{0}' needs a value")]
    MissingValue(String),
    #[error("option '{0}' takes no value")]
    UnexpectedValue(String),
    #[error("invalid {opt} value '{value}': {expected}")]
    InvalidValue {
        opt: String,
        value: String,
        expected: String,
    },
    #[error("unexpected argument '{0}' (see --help)")]
    UnexpectedArgument(String),
    #[error("{0}")]
    Conflict(String),
    #[error("xfgate ctl: missing command (e.g. 'xfgate ctl stats', or -batch FILE)")]
    MissingCommand,
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(String),
}

impl CliError {
    /// The line to print on standard error.
    pub fn line(&self) -> String {
        format!("xfgate: {self}")
    }
}

/// Flow-cache mode (`--cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Stale entries are found and refreshed one by one (the default).
    #[default]
    Selective,
    /// Any change flushes every cache (the classic xfrm behaviour).
    FlushAll,
    /// No cache: every packet is resolved (the reference).
    Off,
}

impl CacheMode {
    fn parse(opt: &str, v: &str) -> Result<CacheMode, CliError> {
        match v {
            "selective" => Ok(CacheMode::Selective),
            "flush-all" => Ok(CacheMode::FlushAll),
            "off" => Ok(CacheMode::Off),
            _ => Err(invalid(opt, v, "expected selective, flush-all or off")),
        }
    }

    /// The spelling on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Selective => "selective",
            CacheMode::FlushAll => "flush-all",
            CacheMode::Off => "off",
        }
    }
}

/// A set of port ids (bit i = port i), from a hexadecimal mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMask(pub u64);

impl PortMask {
    /// Every port.
    pub const ALL: PortMask = PortMask(u64::MAX);
    /// No port.
    pub const NONE: PortMask = PortMask(0);

    /// Whether port `p` is in the mask.
    pub fn contains(self, p: u16) -> bool {
        p < 64 && self.0 & (1u64 << p) != 0
    }
}

/// One `(port,queue,lcore)` entry of `--config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMap {
    pub port: u16,
    pub queue: u16,
    pub lcore: u32,
}

/// Application options (after `--`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppArgs {
    /// `-f FILE`: configuration file.
    pub config_file: Option<PathBuf>,
    /// `-p MASK`: ports to use (default all).
    pub portmask: PortMask,
    /// `-u MASK`: unprotected ports (default none).
    pub unprotected: PortMask,
    /// `--config`: explicit queue-to-lcore map (empty: each worker i polls queue i of every port).
    pub queue_map: Vec<QueueMap>,
    /// `--cache`.
    pub cache: CacheMode,
    /// `--flows`: per-lcore flow-cache capacity.
    pub flows: usize,
    /// `--replay-window`: 0 = anti-replay off.
    pub replay_window: u32,
    /// `--ctl`: control socket path (default: see [`default_ctl_path`]).
    pub ctl: PathBuf,
    /// `--stats-interval` (None = no live line).
    pub stats_interval: Option<Duration>,
    /// `--stats-json FILE`: final statistics written at exit.
    pub stats_json: Option<PathBuf>,
    /// `--duration`: run this long, then exit cleanly (None = until a signal).
    pub duration: Option<Duration>,
    /// `--mtu N`: L3 MTU of every port (None: the device's default, 1500);
    /// packet buffers are sized to hold a frame of this MTU plus the tunnel
    /// headers, and DPDK ports get it with `rte_eth_dev_set_mtu`.
    pub mtu: Option<u16>,
    /// `-v` count.
    pub verbose: u8,
}

impl AppArgs {
    fn defaults(file_prefix: Option<&str>) -> AppArgs {
        AppArgs {
            config_file: None,
            portmask: PortMask::ALL,
            unprotected: PortMask::NONE,
            queue_map: Vec::new(),
            cache: CacheMode::Selective,
            flows: DEFAULT_FLOWS,
            replay_window: DEFAULT_REPLAY_WINDOW,
            ctl: default_ctl_path(file_prefix),
            stats_interval: Some(DEFAULT_STATS_INTERVAL),
            stats_json: None,
            duration: None,
            mtu: None,
            verbose: 0,
        }
    }
}

/// `xfgate [EAL options] -- [app options]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayArgs {
    pub eal: EalArgs,
    pub app: AppArgs,
}

impl GatewayArgs {
    /// Management and worker lcores on a machine with `cpus` CPUs; also
    /// checks that `--config` only names workers.
    pub fn layout(&self, cpus: usize) -> Result<LcoreLayout, CliError> {
        let l = LcoreLayout::resolve(self.eal.lcores.as_ref(), self.eal.main_lcore, cpus)?;
        check_queue_map_lcores(&self.app.queue_map, &l)?;
        Ok(l)
    }
}

/// `xfgate demo [options]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoArgs {
    /// `-l`: lcores (None: all CPUs).
    pub lcores: Option<LcoreList>,
    pub duration: Option<Duration>,
    /// `--churn RATE`: policy adds+deletes per second through the control path (None = off).
    pub churn: Option<f64>,
    pub stats_interval: Option<Duration>,
    pub stats_json: Option<PathBuf>,
    pub cache: CacheMode,
    pub flows: usize,
    pub replay_window: u32,
    pub ctl: PathBuf,
    pub verbose: u8,
}

impl DemoArgs {
    /// Lcore layout on a machine with `cpus` CPUs.
    pub fn layout(&self, cpus: usize) -> Result<LcoreLayout, CliError> {
        LcoreLayout::resolve(self.lcores.as_ref(), None, cpus)
    }
}

/// `xfgate ctl [--ctl PATH] [--file-prefix P] [--json] [-batch FILE | WORDS...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlArgs {
    pub ctl: PathBuf,
    /// `--json`: appended as ` --json` to every command sent.
    pub json: bool,
    /// `-batch FILE` (`-` = standard input).
    pub batch: Option<PathBuf>,
    /// The command words, verbatim.
    pub words: Vec<String>,
}

impl CtlArgs {
    /// The command words joined with spaces into one line; a word that is
    /// empty or contains whitespace or `"` is wrapped in single quotes.
    pub fn command_line(&self) -> String {
        let mut s = String::new();
        for w in &self.words {
            if !s.is_empty() {
                s.push(' ');
            }
            if w.is_empty() || w.chars().any(|c| c.is_whitespace() || c == '"') {
                s.push('\'');
                s.push_str(w);
                s.push('\'');
            } else {
                s.push_str(w);
            }
        }
        s
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(GatewayArgs),
    Demo(DemoArgs),
    Ctl(CtlArgs),
    /// Print [`USAGE`] and exit 0.
    Help,
    /// Print [`version_line`] and exit 0.
    Version,
}

/// `xfgate 0.1.0`.
pub fn version_line() -> String {
    format!("xfgate {}", env!("CARGO_PKG_VERSION"))
}

/// The `--help` text.
pub const USAGE: &str = "\
usage: xfgate [EAL options] -- [app options]
       xfgate demo [demo options]
       xfgate ctl [ctl options] COMMAND... | -batch FILE
       xfgate -h|--help | --version

Poll-mode IPsec gateway data plane with a per-lcore bundle flow cache.

EAL options (DPDK spelling; one command line works with or without DPDK):
  -l, --lcores LIST      lcores as a core list (0-3, 0,2,4, 1-2,4); the first is
                         the management core, the others are workers; a single
                         lcore runs one worker that shares it (default: all CPUs)
  -c MASK                lcores as a hexadecimal core mask (instead of -l)
  --main-lcore N         management lcore (default: the first of the list)
  --vdev DEVICE          virtual device, repeatable; ports are numbered in order:
                           net_pcap0,rx_pcap=FILE,tx_pcap=FILE[,infinite_rx=1]
                           net_null0[,no-rx=1]    net_ring0
                           gen0,flows=N,size=64|imix|LEN,rate=PPS,...
  --file-prefix NAME     instance name (also names the default control socket)
  -a, --allow PCI        PCI device to use, repeatable
  accepted, and ignored with a notice without DPDK:
    -n N, -r N, -m MB, -b/--block PCI, -d/--driver-path, -s/-S service cores,
    -v, --socket-mem, --socket-limit, --huge-dir, --log-level, --proc-type,
    --iova-mode, --base-virtaddr, --vfio-intr, --vfio-vf-token,
    --mbuf-pool-ops-name, --force-max-simd-bitwidth, --trace*, --syslog,
    --huge-unlink, --no-pci, --in-memory, --no-huge, --no-telemetry,
    --telemetry, --no-shconf, --no-hpet, --legacy-mem, --single-file-segments,
    --match-allocations, --create-uio-dev, --vmware-tsc-map

App options:
  -f FILE                configuration file (ipsec-secgw or ip-xfrm lines)
  -p MASK                ports to use, hexadecimal (default: all)
  -u MASK                unprotected ports, hexadecimal (default: none)
  --config '(port,queue,lcore),...'
                         explicit rx queue to lcore map (default: worker i polls
                         queue i of every port)
  --cache MODE           selective (default), flush-all or off
  --flows N              flow-cache capacity per lcore (default 65536)
  --replay-window N      anti-replay window, 0 = off, max 4096 (default 64)
  --ctl PATH             control socket (default: $XDG_RUNTIME_DIR/xfgate/NAME.sock,
                         else /run/xfgate/NAME.sock, else /tmp/xfgate-UID/NAME.sock,
                         the first whose directory is writable; NAME is the
                         --file-prefix or xfgate)
  --stats-interval SECS  live statistics period, 0 = off (default 1)
  --stats-json FILE      write the final statistics as JSON at exit
  --duration SECS        run for SECS seconds, then exit cleanly
  --mtu N                L3 MTU of every port, 68-9600 (default: the device's,
                         1500); buffers hold a frame of N bytes plus the tunnel
                         headers
  -v, --verbose          more messages (repeatable)
  -h, --help             this text
  --version              print the version

demo options (a built-in configuration and traffic generators):
  -l LIST                lcores, as above
  --duration SECS        stop after SECS seconds (default: until Ctrl-C)
  --churn RATE           add and delete RATE policies per second while traffic flows
  --stats-interval SECS, --stats-json FILE, --cache MODE, --flows N,
  --replay-window N, --ctl PATH, -v: as above

ctl options (talk to a running xfgate):
  --ctl PATH             control socket (default as above)
  --file-prefix NAME     find the default socket of that instance
  --json                 ask for JSON replies (appends --json to each command)
  -batch FILE            send the commands of FILE ('-' = stdin), stop at the
                         first error
  COMMAND...             one command, e.g.: stats | flows --lcore 1 | monitor |
                         policy add ... | state add ... | route add ... | neigh add ...

Exit status: 0 on success, 1 on a runtime or command error, 2 on a command-line error.
";

/// Arguments as a cursor; values may be the next argument.
pub(crate) struct Cursor {
    args: Vec<String>,
    pos: usize,
}

impl Cursor {
    fn new(args: Vec<String>) -> Cursor {
        Cursor { args, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<&str> {
        self.args.get(self.pos).map(String::as_str)
    }

    pub(crate) fn next_arg(&mut self) -> Option<String> {
        let a = self.args.get(self.pos).cloned();
        if a.is_some() {
            self.pos += 1;
        }
        a
    }

    /// The value of option `opt` in the next argument.
    pub(crate) fn value_for(&mut self, opt: &str) -> Result<String, CliError> {
        self.next_arg()
            .ok_or_else(|| CliError::MissingValue(opt.to_string()))
    }

    fn rest(&mut self) -> Vec<String> {
        let r = self.args[self.pos..].to_vec();
        self.pos = self.args.len();
        r
    }
}

fn invalid(opt: &str, value: &str, expected: &str) -> CliError {
    CliError::InvalidValue {
        opt: opt.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// Whether `name` is one of the application options (for a helpful error).
pub(crate) fn is_app_option(name: &str) -> bool {
    matches!(
        name,
        "-f" | "-p"
            | "-u"
            | "--config"
            | "--cache"
            | "--flows"
            | "--replay-window"
            | "--ctl"
            | "--stats-interval"
            | "--stats-json"
            | "--duration"
            | "--mtu"
            | "--verbose"
    )
}

/// Parse the command line of the running process (without argv[0]).
pub fn parse_env() -> Result<Command, CliError> {
    parse_os(std::env::args_os().skip(1))
}

/// Parse OS strings (rejecting non-UTF-8 arguments).
pub fn parse_os<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, CliError> {
    let args = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| CliError::NotUtf8(a.to_string_lossy().into_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    parse(args)
}

/// Parse arguments (without argv[0]).
pub fn parse<I, S>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    match args.first().map(String::as_str) {
        Some("demo") => return parse_demo(Cursor::new(args[1..].to_vec())),
        Some("ctl") => return parse_ctl(Cursor::new(args[1..].to_vec())),
        _ => {}
    }
    // --help / --version win over everything else, as usual.
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    if args.iter().any(|a| a == "--version") {
        return Ok(Command::Version);
    }
    let mut c = Cursor::new(args);
    let eal = eal::parse_eal(&mut c)?;
    let _ = c.next_arg(); // the `--`, if any
    let mut app = AppArgs::defaults(eal.file_prefix.as_deref());
    let mut portmask_given = false;
    while let Some(arg) = c.next_arg() {
        let (name, inline) =
            eal::split_option(&arg).ok_or_else(|| CliError::UnexpectedArgument(arg.clone()))?;
        if name == "-v" || name == "--verbose" {
            match inline.as_deref() {
                None => app.verbose = app.verbose.saturating_add(1),
                // -vv, -vvv
                Some(t) if name == "-v" && t.chars().all(|ch| ch == 'v') => {
                    app.verbose = app.verbose.saturating_add(1 + t.len() as u8)
                }
                Some(_) => return Err(CliError::UnexpectedValue(name)),
            }
            continue;
        }
        let v = match inline {
            Some(v) => v,
            None => c.value_for(&name)?,
        };
        match name.as_str() {
            "-f" => app.config_file = Some(non_empty_path(&name, &v)?),
            "-p" => {
                app.portmask = PortMask(eal::parse_hex_mask(
                    &name,
                    &v,
                    "a non-zero hexadecimal port mask such as 0x3",
                )?);
                portmask_given = true;
            }
            "-u" => {
                app.unprotected = PortMask(eal::parse_hex_mask(
                    &name,
                    &v,
                    "a non-zero hexadecimal port mask such as 0x2",
                )?)
            }
            "--config" => app.queue_map = parse_queue_map(&name, &v)?,
            "--ctl" => app.ctl = non_empty_path(&name, &v)?,
            "--stats-json" => app.stats_json = Some(non_empty_path(&name, &v)?),
            "--mtu" => app.mtu = Some(parse_mtu(&name, &v)?),
            _ => {
                if !common_option(&name, &v, &mut Common::App(&mut app))? {
                    return Err(CliError::UnknownOption {
                        cmd: "xfgate",
                        opt: name,
                    });
                }
            }
        }
    }
    if portmask_given && app.unprotected.0 & !app.portmask.0 != 0 {
        return Err(CliError::Conflict(format!(
            "-u {:#x} names ports that -p {:#x} does not enable",
            app.unprotected.0, app.portmask.0
        )));
    }
    for m in &app.queue_map {
        if !app.portmask.contains(m.port) {
            return Err(CliError::Conflict(format!(
                "--config names port {} that -p {:#x} does not enable",
                m.port, app.portmask.0
            )));
        }
    }
    let g = GatewayArgs { eal, app };
    // With an explicit lcore list the --config lcores can be checked now.
    if let Some(list) = &g.eal.lcores {
        let cpus = list.ids().last().map_or(1, |&m| m as usize + 1);
        g.layout(cpus)?;
    }
    Ok(Command::Run(g))
}

enum Common<'a> {
    App(&'a mut AppArgs),
    Demo(&'a mut DemoArgs),
}

/// Options shared by the gateway and the demo. Returns false if `name` is not one.
fn common_option(name: &str, v: &str, into: &mut Common) -> Result<bool, CliError> {
    let (cache, flows, replay, interval, duration) = match into {
        Common::App(a) => (
            &mut a.cache,
            &mut a.flows,
            &mut a.replay_window,
            &mut a.stats_interval,
            &mut a.duration,
        ),
        Common::Demo(d) => (
            &mut d.cache,
            &mut d.flows,
            &mut d.replay_window,
            &mut d.stats_interval,
            &mut d.duration,
        ),
    };
    match name {
        "--cache" => *cache = CacheMode::parse(name, v)?,
        "--flows" => {
            *flows = match v.parse::<usize>() {
                Ok(n) if (1..=MAX_FLOWS).contains(&n) && !v.starts_with('+') => n,
                Ok(_) => {
                    return Err(invalid(
                        name,
                        v,
                        &format!("expected a positive integer up to {MAX_FLOWS}"),
                    ))
                }
                Err(_) => return Err(invalid(name, v, "expected a positive integer")),
            }
        }
        "--replay-window" => {
            *replay = match v.parse::<u32>() {
                Ok(n) if n <= MAX_REPLAY_WINDOW && !v.starts_with('+') => n,
                _ => {
                    return Err(invalid(
                        name,
                        v,
                        &format!("expected an integer from 0 (off) to {MAX_REPLAY_WINDOW}"),
                    ))
                }
            }
        }
        "--stats-interval" => {
            let d = parse_secs(name, v, true)?;
            *interval = (!d.is_zero()).then_some(d);
        }
        "--duration" => *duration = Some(parse_secs(name, v, false)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// `--mtu`: an integer from [`MIN_MTU`] to [`MAX_MTU`].
fn parse_mtu(opt: &str, v: &str) -> Result<u16, CliError> {
    match v.parse::<u16>() {
        Ok(n) if (MIN_MTU..=MAX_MTU).contains(&n) && !v.starts_with('+') => Ok(n),
        _ => Err(invalid(
            opt,
            v,
            &format!("expected an integer from {MIN_MTU} to {MAX_MTU}"),
        )),
    }
}

/// Seconds, possibly fractional (`1`, `0.5`).
fn parse_secs(opt: &str, v: &str, zero_ok: bool) -> Result<Duration, CliError> {
    let expected = if zero_ok {
        "expected a number of seconds (0 = off)"
    } else {
        "expected a positive number of seconds"
    };
    let ok_chars = !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    match v.parse::<f64>() {
        Ok(s) if ok_chars && s.is_finite() && (s > 0.0 || (zero_ok && s == 0.0)) => {
            Duration::try_from_secs_f64(s).map_err(|_| invalid(opt, v, expected))
        }
        _ => Err(invalid(opt, v, expected)),
    }
}

fn non_empty_path(opt: &str, v: &str) -> Result<PathBuf, CliError> {
    if v.is_empty() {
        return Err(invalid(opt, v, "expected a path"));
    }
    Ok(PathBuf::from(v))
}

/// `(port,queue,lcore),...` with ports < 64, queues < 65536, lcores <= MAX_LCORE,
/// and no (port, queue) given twice.
pub fn parse_queue_map(opt: &str, v: &str) -> Result<Vec<QueueMap>, CliError> {
    let syntax = || {
        invalid(
            opt,
            v,
            "expected (port,queue,lcore),... such as (0,0,1),(1,0,1)",
        )
    };
    let mut out: Vec<QueueMap> = Vec::new();
    let mut rest = v.trim();
    if rest.is_empty() {
        return Err(syntax());
    }
    while !rest.is_empty() {
        let inner_start = rest.strip_prefix('(').ok_or_else(syntax)?;
        let close = inner_start.find(')').ok_or_else(syntax)?;
        let fields: Vec<&str> = inner_start[..close].split(',').map(str::trim).collect();
        let [p, q, l] = fields[..] else {
            return Err(syntax());
        };
        let num = |s: &str| -> Result<u64, CliError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse::<u64>().map_err(|_| syntax())
        };
        let (p, q, l) = (num(p)?, num(q)?, num(l)?);
        if p >= 64 {
            return Err(invalid(opt, v, &format!("port {p} is out of range (0-63)")));
        }
        if q > u64::from(u16::MAX) {
            return Err(invalid(
                opt,
                v,
                &format!("queue {q} is out of range (0-65535)"),
            ));
        }
        if l > u64::from(MAX_LCORE) {
            return Err(invalid(
                opt,
                v,
                &format!("lcore {l} is out of range (0-{MAX_LCORE})"),
            ));
        }
        let m = QueueMap {
            port: p as u16,
            queue: q as u16,
            lcore: l as u32,
        };
        if out.iter().any(|o| o.port == m.port && o.queue == m.queue) {
            return Err(invalid(
                opt,
                v,
                &format!("port {p} queue {q} is given twice"),
            ));
        }
        out.push(m);
        rest = inner_start[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(syntax());
            }
        } else if !rest.is_empty() {
            return Err(syntax());
        }
    }
    Ok(out)
}

fn check_queue_map_lcores(map: &[QueueMap], l: &LcoreLayout) -> Result<(), CliError> {
    for m in map {
        if !l.workers.contains(&m.lcore) {
            let why = if m.lcore == l.mgmt {
                "is the management lcore".to_string()
            } else {
                "is not in the lcore list".to_string()
            };
            return Err(CliError::Conflict(format!(
                "--config maps port {} queue {} to lcore {} which {why}; workers are {}",
                m.port,
                m.queue,
                m.lcore,
                l.workers
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
    }
    Ok(())
}

fn parse_demo(mut c: Cursor) -> Result<Command, CliError> {
    let mut d = DemoArgs {
        lcores: None,
        duration: None,
        churn: None,
        stats_interval: Some(DEFAULT_STATS_INTERVAL),
        stats_json: None,
        cache: CacheMode::Selective,
        flows: DEFAULT_FLOWS,
        replay_window: DEFAULT_REPLAY_WINDOW,
        ctl: default_ctl_path(None),
        verbose: 0,
    };
    while let Some(arg) = c.next_arg() {
        let (name, inline) =
            eal::split_option(&arg).ok_or_else(|| CliError::UnexpectedArgument(arg.clone()))?;
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "-v" | "--verbose" => {
                if inline.is_some() {
                    return Err(CliError::UnexpectedValue(name));
                }
                d.verbose = d.verbose.saturating_add(1);
                continue;
            }
            _ => {}
        }
        let v = match inline {
            Some(v) => v,
            None => c.value_for(&name)?,
        };
        match name.as_str() {
            "-l" | "--lcores" => d.lcores = Some(LcoreList::parse(&name, &v)?),
            "--churn" => {
                let rate = v.parse::<f64>().ok().filter(|r| {
                    r.is_finite() && *r >= 0.0 && v.chars().all(|c| c.is_ascii_digit() || c == '.')
                });
                let Some(rate) = rate else {
                    return Err(invalid(
                        &name,
                        &v,
                        "expected a number of policy changes per second (0 = off)",
                    ));
                };
                d.churn = (rate > 0.0).then_some(rate);
            }
            "--ctl" => d.ctl = non_empty_path(&name, &v)?,
            "--stats-json" => d.stats_json = Some(non_empty_path(&name, &v)?),
            _ => {
                if !common_option(&name, &v, &mut Common::Demo(&mut d))? {
                    return Err(CliError::UnknownOption {
                        cmd: "xfgate demo",
                        opt: name,
                    });
                }
            }
        }
    }
    Ok(Command::Demo(d))
}

fn parse_ctl(mut c: Cursor) -> Result<Command, CliError> {
    let mut ctl: Option<PathBuf> = None;
    let mut prefix: Option<String> = None;
    let mut json = false;
    let mut batch: Option<PathBuf> = None;
    while let Some(arg) = c.peek() {
        if arg == "--" {
            c.next_arg();
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let arg = c.next_arg().unwrap_or_default();
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let value = |c: &mut Cursor| match &inline {
            Some(v) => Ok(v.clone()),
            None => c.value_for(&name),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" | "-j" => {
                if inline.is_some() {
                    return Err(CliError::UnexpectedValue(name));
                }
                json = true;
            }
            "--ctl" => ctl = Some(non_empty_path(&name, &value(&mut c)?)?),
            "--file-prefix" => {
                let v = value(&mut c)?;
                if v.is_empty() || v.contains('/') {
                    return Err(invalid(&name, &v, "expected a non-empty name without '/'"));
                }
                prefix = Some(v);
            }
            "-batch" | "--batch" | "-b" => batch = Some(non_empty_path(&name, &value(&mut c)?)?),
            _ => {
                return Err(CliError::UnknownOption {
                    cmd: "xfgate ctl",
                    opt: name,
                })
            }
        }
    }
    let words = c.rest();
    match (&batch, words.is_empty()) {
        (Some(_), false) => {
            return Err(CliError::Conflict(format!(
                "xfgate ctl: give either -batch FILE or a command, not both (got '{}')",
                words.join(" ")
            )))
        }
        (None, true) => return Err(CliError::MissingCommand),
        _ => {}
    }
    Ok(Command::Ctl(CtlArgs {
        ctl: ctl.unwrap_or_else(|| default_ctl_path(prefix.as_deref())),
        json,
        batch,
        words,
    }))
}

/// Default control socket path for the instance `file_prefix` (None: `xfgate`):
/// `$XDG_RUNTIME_DIR/xfgate/NAME.sock` if `$XDG_RUNTIME_DIR` is an absolute,
/// writable directory; else `/run/xfgate/NAME.sock` if `/run/xfgate` (or,
/// when it does not exist yet, `/run`) is writable, which is the case for
/// root; else `/tmp/xfgate-UID/NAME.sock`.
pub fn default_ctl_path(file_prefix: Option<&str>) -> PathBuf {
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    default_ctl_path_with(xdg.as_deref(), uid, file_prefix, &|p| dir_writable(p, uid))
}

/// [`default_ctl_path`] with its environment passed in (for tests).
pub fn default_ctl_path_with(
    xdg_runtime_dir: Option<&Path>,
    uid: Option<u32>,
    file_prefix: Option<&str>,
    writable: &dyn Fn(&Path) -> bool,
) -> PathBuf {
    let name = format!("{}.sock", file_prefix.unwrap_or("xfgate"));
    if let Some(x) = xdg_runtime_dir.filter(|x| x.is_absolute() && writable(x)) {
        return x.join("xfgate").join(name);
    }
    let run = Path::new("/run/xfgate");
    if writable(run) || (!run.exists() && writable(Path::new("/run"))) {
        return run.join(name);
    }
    match uid {
        Some(u) => PathBuf::from(format!("/tmp/xfgate-{u}")).join(name),
        None => PathBuf::from("/tmp/xfgate").join(name),
    }
}

/// A directory we may create entries in, judged from its mode bits.
fn dir_writable(p: &Path, uid: Option<u32>) -> bool {
    let Ok(m) = std::fs::metadata(p) else {
        return false;
    };
    if !m.is_dir() {
        return false;
    }
    match uid {
        Some(0) => true,
        Some(u) if m.uid() == u => m.mode() & 0o200 != 0,
        _ => m.mode() & 0o002 != 0 && m.mode() & 0o1000 == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> GatewayArgs {
        match parse(args.iter().copied()) {
            Ok(Command::Run(g)) => g,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(e) => e.line(),
            Ok(c) => panic!("{args:?} parsed: {c:?}"),
        }
    }

    #[test]
    fn defaults() {
        let g = run(&[]);
        assert_eq!(g.eal.argv, ["xfgate"]);
        assert_eq!(g.eal.lcores, None);
        assert!(g.eal.vdevs.is_empty() && g.eal.ignored.is_empty());
        assert_eq!(g.eal.ignored_notice(), None);
        let a = &g.app;
        assert_eq!(a.config_file, None);
        assert_eq!(a.portmask, PortMask::ALL);
        assert_eq!(a.unprotected, PortMask::NONE);
        assert!(a.queue_map.is_empty());
        assert_eq!(a.cache, CacheMode::Selective);
        assert_eq!(a.flows, 65536);
        assert_eq!(a.replay_window, 64);
        assert_eq!(a.stats_interval, Some(Duration::from_secs(1)));
        assert_eq!(a.stats_json, None);
        assert_eq!(a.duration, None);
        assert_eq!(a.verbose, 0);
        assert!(a.ctl.ends_with("xfgate.sock"), "{:?}", a.ctl);
        assert_eq!(run(&["--"]), g);
    }

    #[test]
    fn full_command_line() {
        let g = run(&[
            "-l",
            "0-2",
            "--vdev",
            "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
            "--vdev=net_null0",
            "--no-pci",
            "--in-memory",
            "--file-prefix",
            "gw1",
            "-a",
            "0000:01:00.0",
            "--allow=0000:02:00.0",
            "-n",
            "4",
            "--socket-mem",
            "1024,0",
            "--huge-dir",
            "/mnt/huge",
            "--log-level",
            "lib.eal:debug",
            "--log-level=7",
            "-m",
            "512",
            "--proc-type",
            "primary",
            "--iova-mode",
            "va",
            "--no-huge",
            "--no-telemetry",
            "--syslog",
            "--",
            "-f",
            "gw.conf",
            "-p",
            "0x3",
            "-u",
            "0x2",
            "--config",
            "(0,0,1),(1,0,2)",
            "--cache",
            "flush-all",
            "--flows",
            "4096",
            "--replay-window",
            "0",
            "--ctl",
            "/tmp/x.sock",
            "--stats-interval",
            "0.5",
            "--stats-json",
            "out.json",
            "--duration",
            "10",
            "-v",
            "--verbose",
        ]);
        let e = &g.eal;
        assert_eq!(e.lcores.as_ref().unwrap().ids(), [0, 1, 2]);
        assert_eq!(
            e.vdevs,
            ["net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap", "net_null0"]
        );
        assert_eq!(e.file_prefix.as_deref(), Some("gw1"));
        assert_eq!(e.allow, ["0000:01:00.0", "0000:02:00.0"]);
        assert_eq!(
            e.ignored,
            [
                "--no-pci",
                "--in-memory",
                "-a",
                "--allow",
                "-n",
                "--socket-mem",
                "--huge-dir",
                "--log-level",
                "-m",
                "--proc-type",
                "--iova-mode",
                "--no-huge",
                "--no-telemetry",
                "--syslog"
            ]
        );
        // The raw argv is the EAL part exactly as given, after a program name.
        assert_eq!(e.argv[0], "xfgate");
        assert_eq!(e.argv[1..4], ["-l", "0-2", "--vdev"]);
        assert_eq!(e.argv.last().unwrap(), "--syslog");
        assert_eq!(e.argv.len(), 1 + 30);
        assert!(e.ignored_notice().unwrap().starts_with(
            "xfgate: built without DPDK: ignoring EAL options --no-pci --in-memory -a"
        ));
        let a = &g.app;
        assert_eq!(a.config_file.as_deref(), Some(Path::new("gw.conf")));
        assert_eq!(a.portmask, PortMask(3));
        assert!(a.unprotected.contains(1) && !a.unprotected.contains(0));
        assert_eq!(
            a.queue_map,
            [
                QueueMap {
                    port: 0,
                    queue: 0,
                    lcore: 1
                },
                QueueMap {
                    port: 1,
                    queue: 0,
                    lcore: 2
                }
            ]
        );
        assert_eq!(a.cache, CacheMode::FlushAll);
        assert_eq!(a.flows, 4096);
        assert_eq!(a.replay_window, 0);
        assert_eq!(a.ctl, Path::new("/tmp/x.sock"));
        assert_eq!(a.stats_interval, Some(Duration::from_millis(500)));
        assert_eq!(a.stats_json.as_deref(), Some(Path::new("out.json")));
        assert_eq!(a.duration, Some(Duration::from_secs(10)));
        assert_eq!(a.verbose, 2);
        let l = g.layout(4).unwrap();
        assert_eq!((l.mgmt, l.workers.as_slice()), (0, &[1, 2][..]));
    }

    #[test]
    fn short_options_attached_and_misc_forms() {
        let g = run(&["-l0,2", "-n4", "--", "-p3", "-vvv", "--cache=off"]);
        assert_eq!(g.eal.argv, ["xfgate", "-l0,2", "-n4"]);
        assert_eq!(g.eal.ignored, ["-n"]);
        assert_eq!(run(&["-c0x5"]).eal.lcores.unwrap().ids(), [0, 2]);
        assert_eq!(g.eal.lcores.as_ref().unwrap().ids(), [0, 2]);
        assert_eq!(g.app.portmask, PortMask(3));
        assert_eq!(g.app.verbose, 3);
        assert_eq!(g.app.cache, CacheMode::Off);
        assert_eq!(
            run(&["--", "--stats-interval", "0"]).app.stats_interval,
            None
        );
        assert_eq!(
            run(&["--", "--replay-window", "4096"]).app.replay_window,
            4096
        );
        assert_eq!(
            run(&["--", "--cache", "selective"]).app.cache,
            CacheMode::Selective
        );
        assert_eq!(
            run(&["--", "-p", "FF", "-u", "0X10"]).app.unprotected,
            PortMask(16)
        );
        assert_eq!(
            run(&["--main-lcore", "1", "-l", "0-1"]).eal.main_lcore,
            Some(1)
        );
        // The file prefix names the default control socket.
        assert!(run(&["--file-prefix", "gw7"]).app.ctl.ends_with("gw7.sock"));
        assert_eq!(
            run(&["--", "--config", " ( 0 , 1 , 1 ) , (2,0,1) "])
                .app
                .queue_map
                .len(),
            2
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["-h"]), Ok(Command::Help));
        assert_eq!(parse(["-l", "0-1", "--", "--help"]), Ok(Command::Help));
        assert_eq!(parse(["--version"]), Ok(Command::Version));
        assert_eq!(parse(["demo", "--help"]), Ok(Command::Help));
        assert_eq!(parse(["ctl", "-h"]), Ok(Command::Help));
        assert!(version_line().starts_with("xfgate 0."));
        for opt in [
            "-l,",
            "--lcores",
            "--vdev",
            "--file-prefix",
            "--no-pci",
            "--in-memory",
            "-a,",
            "--allow",
            "-n N",
            "--socket-mem",
            "--huge-dir",
            "--log-level",
            "-m MB",
            "--proc-type",
            "--iova-mode",
            "--no-huge",
            "--no-telemetry",
            "-f FILE",
            "-p MASK",
            "-u MASK",
            "--config",
            "--cache",
            "--flows",
            "--replay-window",
            "--ctl",
            "--stats-interval",
            "--stats-json",
            "--duration",
            "--mtu",
            "--verbose",
            "--help",
            "--version",
            "--churn",
            "--json",
            "-batch",
            "--main-lcore",
            "-c MASK",
        ] {
            assert!(USAGE.contains(opt), "usage lacks {opt}");
        }
    }

    #[test]
    fn mtu_is_an_app_option_in_range() {
        let Command::Run(g) = parse(["--", "--mtu", "9000"]).unwrap() else {
            panic!("a gateway run");
        };
        assert_eq!(g.app.mtu, Some(9000));
        let Command::Run(g) = parse(["--", "--mtu=68"]).unwrap() else {
            panic!("a gateway run");
        };
        assert_eq!(g.app.mtu, Some(MIN_MTU));
        let Command::Run(g) = parse(["--"]).unwrap() else {
            panic!("a gateway run");
        };
        assert_eq!(g.app.mtu, None, "no --mtu: the device's own");
        for bad in ["67", "9601", "x", "+1500", ""] {
            assert_eq!(
                parse(["--", "--mtu", bad]).unwrap_err().line(),
                format!("xfgate: invalid --mtu value '{bad}': expected an integer from 68 to 9600")
            );
        }
        assert_eq!(
            parse(["--mtu", "1500"]).unwrap_err(),
            CliError::AppOptionBeforeDashDash("--mtu".into())
        );
    }

    #[test]
    fn errors_name_the_argument() {
        let cases: &[(&[&str], &str)] = &[
            (&["--", "--flows", "abc"], "xfgate: invalid --flows value 'abc': expected a positive integer"),
            (&["--", "--flows", "0"], "xfgate: invalid --flows value '0': expected a positive integer up to 16777216"),
            (&["--", "--flows=-5"], "xfgate: invalid --flows value '-5': expected a positive integer"),
            (&["--", "--flows", "99999999"], "xfgate: invalid --flows value '99999999': expected a positive integer up to 16777216"),
            (&["--", "--replay-window", "4097"], "xfgate: invalid --replay-window value '4097': expected an integer from 0 (off) to 4096"),
            (&["--", "--replay-window", "x"], "xfgate: invalid --replay-window value 'x': expected an integer from 0 (off) to 4096"),
            (&["--", "--cache", "lru"], "xfgate: invalid --cache value 'lru': expected selective, flush-all or off"),
            (&["--", "-p", "0"], "xfgate: invalid -p value '0': expected a non-zero hexadecimal port mask such as 0x3"),
            (&["--", "-p", "0xzz"], "xfgate: invalid -p value '0xzz': expected a non-zero hexadecimal port mask such as 0x3"),
            (&["--", "-p", "0x11111111111111111"], "xfgate: invalid -p value '0x11111111111111111': expected a non-zero hexadecimal port mask such as 0x3"),
            (&["--", "-u", "g"], "xfgate: invalid -u value 'g': expected a non-zero hexadecimal port mask such as 0x2"),
            (&["--", "-p", "0x1", "-u", "0x2"], "xfgate: -u 0x2 names ports that -p 0x1 does not enable"),
            (&["--", "--stats-interval", "-1"], "xfgate: invalid --stats-interval value '-1': expected a number of seconds (0 = off)"),
            (&["--", "--stats-interval", "inf"], "xfgate: invalid --stats-interval value 'inf': expected a number of seconds (0 = off)"),
            (&["--", "--duration", "0"], "xfgate: invalid --duration value '0': expected a positive number of seconds"),
            (&["--", "--duration", "1e3"], "xfgate: invalid --duration value '1e3': expected a positive number of seconds"),
            (&["--", "--duration"], "xfgate: option '--duration' needs a value"),
            (&["--", "-f"], "xfgate: option '-f' needs a value"),
            (&["--", "-f", ""], "xfgate: invalid -f value '': expected a path"),
            (&["--", "--ctl="], "xfgate: invalid --ctl value '': expected a path"),
            (&["--", "--bogus", "1"], "xfgate: unknown option '--bogus' for 'xfgate' (see --help)"),
            (&["--", "stray"], "xfgate: unexpected argument 'stray' (see --help)"),
            (&["--", "-v=1"], "xfgate: option '-v' takes no value"),
            (&["--bogus"], "xfgate: unknown EAL option '--bogus' (application options go after '--'; see --help)"),
            (&["-f", "x.conf"], "xfgate: '-f' is an application option: put it after '--' (xfgate [EAL options] -- [app options])"),
            (&["--flows", "5"], "xfgate: '--flows' is an application option: put it after '--' (xfgate [EAL options] -- [app options])"),
            (&["stray"], "xfgate: unexpected argument 'stray' (see --help)"),
            (&["-l"], "xfgate: option '-l' needs a value"),
            (&["-l", "x"], "xfgate: invalid -l value 'x': expected a core list such as 0-3, 0,2,4 or 1-2,4"),
            (&["--lcores", "(0-1)@0"], "xfgate: invalid --lcores value '(0-1)@0': expected a core list such as 0-3, 0,2,4 or 1-2,4"),
            (&["-l", "0-1", "-c", "3"], "xfgate: options -l and -c both select lcores: give one"),
            (&["-c", "0"], "xfgate: invalid -c value '0': expected a non-zero hexadecimal core mask such as 0xf"),
            (&["--main-lcore", "x"], "xfgate: invalid --main-lcore value 'x': expected an lcore id (0-1023)"),
            (&["--main-lcore", "3", "-l", "0-1"], "xfgate: --main-lcore 3 is not in the lcore list 0-1"),
            (&["--vdev"], "xfgate: option '--vdev' needs a value"),
            (&["--vdev="], "xfgate: invalid --vdev value '': expected a device string such as net_null0"),
            (&["--file-prefix", "a/b"], "xfgate: invalid --file-prefix value 'a/b': expected a non-empty name without '/'"),
            (&["--no-pci=1"], "xfgate: option '--no-pci' takes no value"),
            (&["-n"], "xfgate: option '-n' needs a value"),
            (&["--socket-mem"], "xfgate: option '--socket-mem' needs a value"),
            (&["--", "--config", "(0,0)"], "xfgate: invalid --config value '(0,0)': expected (port,queue,lcore),... such as (0,0,1),(1,0,1)"),
            (&["--", "--config", "(0,0,1),"], "xfgate: invalid --config value '(0,0,1),': expected (port,queue,lcore),... such as (0,0,1),(1,0,1)"),
            (&["--", "--config", "(0,0,1)(1,0,1)"], "xfgate: invalid --config value '(0,0,1)(1,0,1)': expected (port,queue,lcore),... such as (0,0,1),(1,0,1)"),
            (&["--", "--config", "0,0,1"], "xfgate: invalid --config value '0,0,1': expected (port,queue,lcore),... such as (0,0,1),(1,0,1)"),
            (&["--", "--config", "(a,0,1)"], "xfgate: invalid --config value '(a,0,1)': expected (port,queue,lcore),... such as (0,0,1),(1,0,1)"),
            (&["--", "--config", ""], "xfgate: invalid --config value '': expected (port,queue,lcore),... such as (0,0,1),(1,0,1)"),
            (&["--", "--config", "(64,0,1)"], "xfgate: invalid --config value '(64,0,1)': port 64 is out of range (0-63)"),
            (&["--", "--config", "(0,70000,1)"], "xfgate: invalid --config value '(0,70000,1)': queue 70000 is out of range (0-65535)"),
            (&["--", "--config", "(0,0,2000)"], "xfgate: invalid --config value '(0,0,2000)': lcore 2000 is out of range (0-1023)"),
            (&["--", "--config", "(0,0,1),(0,0,2)"], "xfgate: invalid --config value '(0,0,1),(0,0,2)': port 0 queue 0 is given twice"),
            (&["--", "-p", "1", "--config", "(1,0,1)"], "xfgate: --config names port 1 that -p 0x1 does not enable"),
            (&["-l", "0-2", "--", "--config", "(0,0,0)"], "xfgate: --config maps port 0 queue 0 to lcore 0 which is the management lcore; workers are 1,2"),
            (&["-l", "0-2", "--", "--config", "(0,0,5)"], "xfgate: --config maps port 0 queue 0 to lcore 5 which is not in the lcore list; workers are 1,2"),
        ];
        for (args, want) in cases {
            assert_eq!(&err(args), want, "args {args:?}");
        }
        assert!(matches!(
            parse_os([OsString::from("-l"), {
                use std::os::unix::ffi::OsStringExt;
                OsString::from_vec(vec![0xff, b'1'])
            }]),
            Err(CliError::NotUtf8(_))
        ));
    }

    #[test]
    fn demo_options() {
        let Ok(Command::Demo(d)) = parse(["demo"]) else {
            panic!()
        };
        assert_eq!(d.duration, None);
        assert_eq!(d.churn, None);
        assert_eq!(d.stats_interval, Some(Duration::from_secs(1)));
        assert_eq!(d.flows, DEFAULT_FLOWS);
        let Ok(Command::Demo(d)) = parse([
            "demo",
            "--duration",
            "3",
            "--churn",
            "100",
            "--stats-interval",
            "2",
            "--cache",
            "off",
            "--stats-json",
            "d.json",
            "-l",
            "0-1",
            "--flows=128",
            "--replay-window",
            "0",
            "--ctl",
            "/tmp/d.sock",
            "-v",
        ]) else {
            panic!()
        };
        assert_eq!(d.duration, Some(Duration::from_secs(3)));
        assert_eq!(d.churn, Some(100.0));
        assert_eq!(d.stats_interval, Some(Duration::from_secs(2)));
        assert_eq!(d.cache, CacheMode::Off);
        assert_eq!(d.stats_json.as_deref(), Some(Path::new("d.json")));
        assert_eq!(d.lcores.as_ref().unwrap().ids(), [0, 1]);
        assert_eq!((d.flows, d.replay_window, d.verbose), (128, 0, 1));
        assert_eq!(d.ctl, Path::new("/tmp/d.sock"));
        assert_eq!(d.layout(2).unwrap().workers, [1]);
        let Ok(Command::Demo(d)) = parse(["demo", "--churn", "0"]) else {
            panic!()
        };
        assert_eq!(d.churn, None);
        let e = |a: &[&str]| parse(a.iter().copied()).unwrap_err().line();
        assert_eq!(
            e(&["demo", "--churn", "fast"]),
            "xfgate: invalid --churn value 'fast': expected a number of policy changes per second (0 = off)"
        );
        assert_eq!(
            e(&["demo", "--vdev", "x"]),
            "xfgate: unknown option '--vdev' for 'xfgate demo' (see --help)"
        );
        assert_eq!(
            e(&["demo", "now"]),
            "xfgate: unexpected argument 'now' (see --help)"
        );
        assert_eq!(
            e(&["demo", "--duration", "soon"]),
            "xfgate: invalid --duration value 'soon': expected a positive number of seconds"
        );
        assert_eq!(
            e(&["demo", "--churn"]),
            "xfgate: option '--churn' needs a value"
        );
    }

    #[test]
    fn ctl_options() {
        let ctl = |a: &[&str]| match parse(a.iter().copied()) {
            Ok(Command::Ctl(c)) => c,
            other => panic!("{a:?}: {other:?}"),
        };
        let c = ctl(&["ctl", "--ctl", "/tmp/a.sock", "--json", "stats"]);
        assert_eq!(c.ctl, Path::new("/tmp/a.sock"));
        assert!(c.json);
        assert_eq!(c.words, ["stats"]);
        assert_eq!(c.command_line(), "stats");
        // Words after the command are verbatim, options included.
        let c = ctl(&[
            "ctl",
            "state",
            "add",
            "aead",
            "rfc4106(gcm(aes))",
            "0xab",
            "128",
            "--json",
            "two words",
        ]);
        assert!(!c.json);
        assert_eq!(
            c.command_line(),
            "state add aead rfc4106(gcm(aes)) 0xab 128 --json 'two words'"
        );
        let c = ctl(&["ctl", "-batch", "cmds.txt"]);
        assert_eq!(c.batch.as_deref(), Some(Path::new("cmds.txt")));
        assert!(c.words.is_empty());
        let c = ctl(&["ctl", "--batch=-"]);
        assert_eq!(c.batch.as_deref(), Some(Path::new("-")));
        let c = ctl(&["ctl", "--file-prefix", "gw2", "--", "-weird"]);
        assert!(c.ctl.ends_with("gw2.sock"));
        assert_eq!(c.words, ["-weird"]);
        let e = |a: &[&str]| parse(a.iter().copied()).unwrap_err().line();
        assert_eq!(
            e(&["ctl"]),
            "xfgate: xfgate ctl: missing command (e.g. 'xfgate ctl stats', or -batch FILE)"
        );
        assert_eq!(e(&["ctl", "--json"]), e(&["ctl"]));
        assert_eq!(
            e(&["ctl", "-batch", "f", "stats"]),
            "xfgate: xfgate ctl: give either -batch FILE or a command, not both (got 'stats')"
        );
        assert_eq!(
            e(&["ctl", "-batch"]),
            "xfgate: option '-batch' needs a value"
        );
        assert_eq!(
            e(&["ctl", "--frob", "stats"]),
            "xfgate: unknown option '--frob' for 'xfgate ctl' (see --help)"
        );
        assert_eq!(
            e(&["ctl", "--json=1", "stats"]),
            "xfgate: option '--json' takes no value"
        );
    }

    #[test]
    fn ctl_path_fallbacks() {
        let xdg = Path::new("/run/user/1000");
        let all = |_: &Path| true;
        let none = |_: &Path| false;
        assert_eq!(
            default_ctl_path_with(Some(xdg), Some(1000), None, &all),
            Path::new("/run/user/1000/xfgate/xfgate.sock")
        );
        assert_eq!(
            default_ctl_path_with(Some(xdg), Some(1000), Some("gw1"), &all),
            Path::new("/run/user/1000/xfgate/gw1.sock")
        );
        // Relative XDG_RUNTIME_DIR is ignored, as the XDG spec says.
        assert_eq!(
            default_ctl_path_with(Some(Path::new("rel")), Some(0), None, &all),
            Path::new("/run/xfgate/xfgate.sock")
        );
        assert_eq!(
            default_ctl_path_with(Some(xdg), Some(1000), None, &none),
            Path::new("/tmp/xfgate-1000/xfgate.sock")
        );
        assert_eq!(
            default_ctl_path_with(None, None, Some("p"), &none),
            Path::new("/tmp/xfgate/p.sock")
        );
        // Real environment: a path ending in the instance name.
        assert!(default_ctl_path(Some("zz")).ends_with("zz.sock"));
    }
}
