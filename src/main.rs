//! `xfgate [EAL options] -- [app options]`, `xfgate demo`, `xfgate ctl`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xfgate::gateway::{demo, sa_counters, stats_report, Gateway, GatewayOpts};
use xfgate::mgmt::{MgmtCounters, Op, Strategy};
use xfgate::stats;

const USAGE: &str = "\
xfgate: IPsec gateway data plane with a per-lcore bundle flow cache

usage:
  xfgate demo [--duration SECS] [--churn RATE] [--cache MODE] [--flows N]
              [--stats-interval SECS] [--stats-json FILE]
  xfgate [EAL options] -- [app options]
  xfgate ctl [--ctl PATH] [--json] [-batch FILE | COMMAND...]
  xfgate bench [SCENARIO...] [--quick] [--reps N] [--out FILE.json] (see xfgate bench --help)

EAL options (DPDK spelling; without DPDK only -l and --vdev mean something):
  -l, --lcores LIST     lcores, e.g. 0-2: the first is the management core,
                        each other one runs a worker (default 0-1)
  --vdev DEVICE         a port: net_pcapN,rx_pcap=F,tx_pcap=F[,infinite_rx=1]
                        net_nullN[,no-rx=1]  net_ringN[,name=R]
                        genN,flows=N,size=64|imix|LEN,rate=PPS,new_flow_pct=P,...
  --no-pci, --in-memory, --file-prefix X, -a PCI, -n N, --socket-mem X, ...
                        accepted; ignored without DPDK (one notice)

app options:
  -f FILE               configuration (ipsec-secgw or ip-xfrm syntax)
  -p PORTMASK           ports to use (hex; default all)
  -u PORTMASK           unprotected (ESP side) ports (hex)
  --cache MODE          selective (default) | flush-all | off
  --flows N             flow-cache capacity per lcore (default 65536)
  --replay-window N     replay window for every SA (0 = off, max 4096)
  --stats-interval SECS live statistics period (default 1; 0 = off)
  --stats-json FILE     final statistics as JSON on exit
  --duration SECS       run, then exit cleanly
  --ctl PATH            control socket (default $XDG_RUNTIME_DIR/xfgate/xfgate.sock)
  -v, --verbose         more output
  -h, --help            this text
";

#[derive(Debug)]
struct App {
    opts: GatewayOpts,
    stats_interval: f64,
    stats_json: Option<String>,
    duration: Option<f64>,
    churn: f64,
    verbose: bool,
    ctl: Option<std::path::PathBuf>,
    file_prefix: Option<String>,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("xfgate: {msg}");
    std::process::exit(2);
}

fn value<'a>(args: &'a [String], i: &mut usize, name: &str) -> &'a str {
    *i += 1;
    match args.get(*i) {
        Some(v) => v,
        None => fail(format!("option {name} needs a value")),
    }
}

fn num<T: std::str::FromStr>(v: &str, name: &str, what: &str) -> T {
    v.parse()
        .unwrap_or_else(|_| fail(format!("invalid {name} value '{v}': expected {what}")))
}

fn mask(v: &str, name: &str) -> u64 {
    let h = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    u64::from_str_radix(h, 16).unwrap_or_else(|_| {
        fail(format!(
            "invalid {name} value '{v}': expected a hex port mask"
        ))
    })
}

/// DPDK corelist: `0-3`, `0,2,4`, `1-2,4`.
fn corelist(v: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in v.split(',') {
        let bad = || {
            fail(format!(
                "invalid -l value '{v}': expected a core list like 0-3 or 0,2"
            ))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.parse().unwrap_or_else(|_| bad()),
                    b.parse().unwrap_or_else(|_| bad()),
                );
                if a > b {
                    bad();
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().unwrap_or_else(|_| bad())),
        }
    }
    out
}

fn parse_app(args: &[String], app: &mut App) {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-f" => {
                let f = value(args, &mut i, a);
                let text = std::fs::read_to_string(f)
                    .unwrap_or_else(|e| fail(format!("cannot read -f {f}: {e}")));
                app.opts.config = Some((f.to_string(), text));
            }
            "-p" => app.opts.portmask = Some(mask(value(args, &mut i, a), a)),
            "-u" => app.opts.unprotected = mask(value(args, &mut i, a), a),
            "--cache" => {
                let v = value(args, &mut i, a);
                app.opts.strategy = v
                    .parse::<Strategy>()
                    .unwrap_or_else(|e| fail(format!("invalid --cache value: {e}")));
            }
            "--flows" => {
                app.opts.flows = num(value(args, &mut i, a), a, "a positive integer");
                if app.opts.flows == 0 {
                    fail("invalid --flows value '0': expected a positive integer");
                }
            }
            "--replay-window" => {
                let w: u32 = num(value(args, &mut i, a), a, "0 or 64..4096");
                if w != 0 && !(64..=4096).contains(&w) {
                    fail(format!(
                        "invalid --replay-window value '{w}': expected 0 or 64..4096"
                    ));
                }
                app.opts.replay_window = Some(w);
            }
            "--stats-interval" => app.stats_interval = num(value(args, &mut i, a), a, "seconds"),
            "--stats-json" => app.stats_json = Some(value(args, &mut i, a).to_string()),
            "--duration" => app.duration = Some(num(value(args, &mut i, a), a, "seconds")),
            "--churn" => app.churn = num(value(args, &mut i, a), a, "changes per second"),
            "--ctl" => app.ctl = Some(value(args, &mut i, a).into()),
            "--config" => {
                let _ = value(args, &mut i, a);
                eprintln!("xfgate: note: --config (explicit queue map) is not supported yet; each worker polls queue i of every port");
            }
            "-v" | "--verbose" => app.verbose = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => fail(format!("unknown option '{a}' (see xfgate --help)")),
        }
        i += 1;
    }
}

fn parse_eal(args: &[String], app: &mut App) {
    let mut ignored = Vec::new();
    let mut i = 0;
    let mut lcores = vec![0usize, 1];
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-l" | "--lcores" => lcores = corelist(value(args, &mut i, a)),
            "--vdev" => app.opts.vdevs.push(value(args, &mut i, a).to_string()),
            // Names this instance's control socket, as it names DPDK's runtime files.
            "--file-prefix" => app.file_prefix = Some(value(args, &mut i, a).to_string()),
            "-a" | "--allow" | "-b" | "--block" | "-n" | "-r" | "-m" | "--socket-mem"
            | "--huge-dir" | "--log-level" | "--proc-type" | "--iova-mode" | "--base-virtaddr"
            | "--main-lcore" | "-d" => {
                let _ = value(args, &mut i, a);
                ignored.push(a.to_string());
            }
            "--no-pci"
            | "--in-memory"
            | "--no-huge"
            | "--no-telemetry"
            | "--no-shconf"
            | "--legacy-mem"
            | "--single-file-segments" => ignored.push(a.to_string()),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => fail(format!(
                "unknown EAL option '{a}' (app options go after --)"
            )),
        }
        i += 1;
    }
    if !ignored.is_empty() {
        eprintln!(
            "xfgate: built without DPDK: ignoring EAL options {}",
            ignored.join(" ")
        );
    }
    if lcores.len() < 2 {
        fail("-l needs at least two lcores: the management core and one worker");
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    app.opts.workers = lcores[1..].iter().map(|&l| (l, l % ncpu)).collect();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut app = App {
        opts: GatewayOpts::default(),
        stats_interval: 1.0,
        stats_json: None,
        duration: None,
        churn: 0.0,
        verbose: false,
        ctl: None,
        file_prefix: None,
    };
    match args.first().map(String::as_str) {
        Some("demo") => {
            parse_app(&args[1..], &mut app);
            if app.opts.vdevs.is_empty() {
                app.opts.vdevs = demo::vdevs(4096);
            }
            app.opts.unprotected = demo::UNPROTECTED;
            app.opts.config = Some(("built-in demo configuration".into(), demo::config()));
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            app.opts.workers = vec![(1, 1 % ncpu)];
        }
        Some("ctl") => std::process::exit(ctl_main(&args)),
        Some("bench") => std::process::exit(xfgate::bench::bench_main(&args[1..])),
        Some("-h" | "--help") => {
            print!("{USAGE}");
            return;
        }
        Some("--version") => {
            println!("xfgate {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        _ => {
            let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
            parse_eal(&args[..split], &mut app);
            if split < args.len() {
                parse_app(&args[split + 1..], &mut app);
            }
            if app.opts.vdevs.is_empty() {
                fail("no ports: give at least one --vdev (or run 'xfgate demo')");
            }
        }
    }
    std::process::exit(run(app));
}

/// `xfgate ctl [--ctl PATH] [--json] [-batch FILE | WORDS...]`.
fn ctl_main(args: &[String]) -> i32 {
    match xfgate::cli::parse(args.iter().cloned()) {
        Ok(xfgate::cli::Command::Ctl(c)) => {
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            match xfgate::ctl::run_ctl(&c, &mut out, &mut err) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(e) => {
                    eprintln!("xfgate: ctl: {e}");
                    1
                }
            }
        }
        Ok(_) => 2,
        Err(e) => {
            eprintln!("{}", e.line());
            2
        }
    }
}

fn run(app: App) -> i32 {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("xfgate: cannot install a signal handler: {e}");
            return 1;
        }
    }
    let strategy = app.opts.strategy;
    let gw = match Gateway::start(app.opts.clone()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("xfgate: {e}");
            return 1;
        }
    };
    // The control socket: if it cannot be had, stop what was started and exit.
    let ctl_path = app
        .ctl
        .clone()
        .unwrap_or_else(|| xfgate::cli::default_ctl_path(app.file_prefix.as_deref()));
    let server = match xfgate::ctl::CtlServer::bind(&ctl_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xfgate: {e} (give another path with --ctl or --file-prefix)");
            let _ = gw.shutdown();
            return 1;
        }
    };
    let ctl_stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(xfgate::gateway::control::ControlState {
        mgmt: gw.mgmt.clone(),
        snapshots: gw.snapshots.clone(),
        ports: gw.ports.clone(),
        nports: gw.port_confs.len(),
        started: gw.started,
    });
    let ctl = match server.serve(xfgate::gateway::control::handler(state), ctl_stop.clone()) {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("xfgate: control socket {}: {e}", ctl_path.display());
            None
        }
    };
    eprintln!("xfgate: control socket {}", ctl_path.display());
    eprintln!(
        "xfgate: {} ports, {} worker lcore(s), cache {strategy}, {} flows per lcore; Ctrl-C to stop",
        gw.port_confs.len(),
        app.opts.workers.len(),
        app.opts.flows
    );
    let churn = (app.churn > 0.0).then(|| spawn_churn(&gw, app.churn, stop.clone()));
    let interval = if app.stats_interval > 0.0 {
        Duration::from_secs_f64(app.stats_interval)
    } else {
        Duration::from_secs(3600)
    };
    let nports = gw.port_confs.len();
    let mut prev = (
        Instant::now(),
        stats_report(
            &gw.worker_snapshots(),
            &MgmtCounters::default(),
            Duration::ZERO,
            &gw.ports,
            nports,
            Vec::new(),
        ),
    );
    gw.run(
        &stop,
        app.duration.map(Duration::from_secs_f64),
        interval,
        |g| {
            if app.stats_interval > 0.0 {
                let m = g.mgmt_counters().unwrap_or_default();
                let now = Instant::now();
                let cur = stats_report(
                    &g.worker_snapshots(),
                    &m,
                    g.started.elapsed(),
                    &g.ports,
                    nports,
                    Vec::new(),
                );
                eprintln!("{}", stats::live_line(&prev.1, &cur, now - prev.0));
                prev = (now, cur);
            }
        },
    );
    stop.store(true, Ordering::Relaxed);
    if let Some(c) = churn {
        let _ = c.join();
    }
    ctl_stop.store(true, Ordering::Relaxed);
    if let Some(h) = ctl {
        h.join();
    }
    let elapsed = gw.started.elapsed();
    let ports = gw.ports.clone();
    let sas = sa_counters(&gw);
    let (finals, m) = gw.shutdown();
    let report = stats_report(&finals, &m, elapsed, &ports, nports, sas);
    eprintln!("{}", stats::summary(&report));
    if let Err(e) = report.check_accounting() {
        eprintln!("xfgate: WARNING: {e}");
    }
    if let Some(path) = app.stats_json {
        if let Err(e) = std::fs::write(&path, report.to_json()) {
            eprintln!("xfgate: cannot write --stats-json {path}: {e}");
            return 1;
        }
    }
    0
}

fn spawn_churn(gw: &Gateway, rate: f64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let h = gw.mgmt.clone();
    std::thread::spawn(move || {
        let period = Duration::from_secs_f64(1.0 / rate);
        let mut n = 0u32;
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let idx = 8 * (0x10_0000 + (n % 64));
            let line = format!(
                "policy add src 10.1.{}.{}/32 dst 10.2.0.0/16 dir out priority 10 index {idx} tmpl src 192.0.2.1 dst 198.51.100.1 proto esp reqid 1000 mode tunnel",
                (n / 64) % 256,
                n % 64
            );
            if let Ok(Some(cmd)) = xfgate::config::parse_line(&line) {
                if let Some(op) = xfgate::gateway::command_op(cmd) {
                    let _ = h.call(op);
                }
            }
            let _ = h.call(Op::PolicyDelete(xfgate::spd::PolicyId::Index(idx)));
            n = n.wrapping_add(1);
            next += period * 2;
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
    })
}
