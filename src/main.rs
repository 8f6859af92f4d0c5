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
  --config (P,Q,L),...  rx queue Q of port P is polled by lcore L (default:
                        worker i polls queue i of every port)
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
                let v = value(args, &mut i, a);
                match xfgate::cli::parse_queue_map(a, v) {
                    Ok(m) => {
                        app.opts.queue_map = m
                            .iter()
                            .map(|q| (q.port, q.queue, q.lcore as usize))
                            .collect()
                    }
                    Err(e) => fail(e),
                }
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
    // With DPDK, the EAL options (before `--`) go to rte_eal_init unchanged.
    #[cfg(feature = "dpdk")]
    if !matches!(
        args.first().map(String::as_str),
        Some("demo" | "-h" | "--help" | "--version")
    ) {
        let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
        if split < args.len() {
            parse_app(&args[split + 1..], &mut app);
        }
        std::process::exit(run_dpdk(app, &args[..split]));
    }
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

#[cfg(feature = "dpdk")]
fn reasons() -> impl Iterator<Item = (stats::DropReason, &'static str)> {
    stats::DropReason::ALL.iter().map(|r| (*r, r.name()))
}

#[cfg(feature = "dpdk")]
fn sum(s: &[xfgate::gateway::WorkerSnapshot]) -> xfgate::gateway::WorkerSnapshot {
    let mut t = xfgate::gateway::WorkerSnapshot::default();
    for w in s {
        let c = &w.counters;
        t.counters.rx_packets += c.rx_packets;
        t.counters.rx_bytes += c.rx_bytes;
        t.counters.tx_packets += c.tx_packets;
        t.counters.tx_bytes += c.tx_bytes;
        t.counters.forwarded += c.forwarded;
        t.counters.encapsulated += c.encapsulated;
        t.counters.decapsulated += c.decapsulated;
        for (a, b) in t.counters.drops.iter_mut().zip(c.drops.iter()) {
            *a += b;
        }
        t.cache.lookups += w.cache.lookups;
        t.cache.hits += w.cache.hits;
        t.cache.misses += w.cache.misses;
        t.cache.evictions += w.cache.evictions;
        t.cache.stale += w.cache.stale;
        t.cache_len += w.cache_len;
    }
    t
}

#[cfg(feature = "dpdk")]
fn live_line(
    prev: &[xfgate::gateway::WorkerSnapshot],
    cur: &[xfgate::gateway::WorkerSnapshot],
    dt: Duration,
    m: &MgmtCounters,
) -> String {
    let (p, c) = (sum(prev), sum(cur));
    let s = dt.as_secs_f64().max(1e-9);
    let rx = (c.counters.rx_packets - p.counters.rx_packets) as f64 / s;
    let tx = (c.counters.tx_packets - p.counters.tx_packets) as f64 / s;
    let gbps = (c.counters.tx_bytes - p.counters.tx_bytes) as f64 * 8.0 / s / 1e9;
    let look = (c.cache.lookups - p.cache.lookups) as f64;
    let hits = (c.cache.hits - p.cache.hits) as f64;
    let mut line = format!(
        "rx {:.3} Mpps  tx {:.3} Mpps {:.2} Gbps  cache hit {:.1}% ({} flows) misses/s {:.0} evict/s {:.0} stale/s {:.0}",
        rx / 1e6,
        tx / 1e6,
        gbps,
        if look > 0.0 { 100.0 * hits / look } else { 0.0 },
        c.cache_len,
        (c.cache.misses - p.cache.misses) as f64 / s,
        (c.cache.evictions - p.cache.evictions) as f64 / s,
        (c.cache.stale - p.cache.stale) as f64 / s,
    );
    for (r, name) in reasons() {
        let d = c.counters.drops[r as usize] - p.counters.drops[r as usize];
        if d > 0 {
            line.push_str(&format!(" {name}={d}"));
        }
    }
    line.push_str(&format!(
        "  kills {} pending {}",
        m.policies_killed + m.sas_killed,
        m.pending
    ));
    line
}

#[cfg(feature = "dpdk")]
fn summary(
    finals: &[xfgate::gateway::WorkerSnapshot],
    m: &MgmtCounters,
    elapsed: Duration,
) -> String {
    let t = sum(finals);
    let c = &t.counters;
    let drops: u64 = c.drops.iter().sum();
    let mut s = format!(
        "xfgate: ran {:.1} s: rx {} forwarded {} dropped {} (encapsulated {}, decapsulated {}), {:.3} Mpps average\n",
        elapsed.as_secs_f64(),
        c.rx_packets,
        c.forwarded,
        drops,
        c.encapsulated,
        c.decapsulated,
        c.rx_packets as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
    );
    for (r, name) in reasons() {
        if c.drops[r as usize] > 0 {
            s.push_str(&format!("  drop {name}: {}\n", c.drops[r as usize]));
        }
    }
    s.push_str(&format!(
        "  cache: lookups {} hits {} misses {} stale {}; objects: policies added {} killed {}, SAs added {} killed {}; retired {} freed {}",
        t.cache.lookups, t.cache.hits, t.cache.misses, t.cache.stale, m.policies_added, m.policies_killed, m.sas_added, m.sas_killed, m.retired, m.freed
    ));
    if c.rx_packets != c.forwarded + drops {
        s.push_str("\n  WARNING: rx != forwarded + drops");
    }
    s
}

// ---------------------------------------------------------------------------
// DPDK (feature `dpdk`): `xfgate [EAL options] -- [app options]` on ethdevs.

#[cfg(feature = "dpdk")]
fn run_dpdk(app: App, eal: &[String]) -> i32 {
    use xfgate::gateway::dpdk::DpdkGateway;
    use xfgate::port::dpdk as dp;
    if let Err(e) = dp::eal_init(eal) {
        eprintln!("xfgate: {e}");
        return 1;
    }
    if let Err(e) = dp::check_vdevs(eal) {
        eprintln!("xfgate: {e}");
        dp::eal_cleanup();
        return 1;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("xfgate: cannot install a signal handler: {e}");
            return 1;
        }
    }
    let gw = match DpdkGateway::start(&app.opts, dp::DpdkPortsConfig::default()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("xfgate: {e}");
            dp::eal_cleanup();
            return 1;
        }
    };
    eprintln!(
        "xfgate: DPDK {}: {} ports, workers on lcores {:?}, management on lcore {}, cache {}, {} flows per lcore; Ctrl-C to stop",
        dpdk_sys::DPDK_VERSION,
        gw.port_confs.len(),
        gw.lcores,
        dp::main_lcore(),
        app.opts.strategy,
        app.opts.flows
    );
    if app.churn > 0.0 {
        eprintln!("xfgate: note: --churn is only supported by 'xfgate demo'; ignored");
    }
    let interval = if app.stats_interval > 0.0 {
        Duration::from_secs_f64(app.stats_interval)
    } else {
        Duration::from_secs(3600)
    };
    let mut prev = (Instant::now(), gw.worker_snapshots());
    gw.run(
        &stop,
        app.duration.map(Duration::from_secs_f64),
        interval,
        |g| {
            if app.stats_interval > 0.0 {
                let now = (Instant::now(), g.worker_snapshots());
                let m = g.mgmt_counters().unwrap_or_default();
                let mut line = live_line(&prev.1, &now.1, now.0 - prev.0, &m);
                for (i, e) in g.eth_stats().iter().enumerate() {
                    if e.imissed + e.rx_nombuf + e.oerrors > 0 {
                        line.push_str(&format!(
                            "  port{i} imissed {} rx_nombuf {} oerrors {}",
                            e.imissed, e.rx_nombuf, e.oerrors
                        ));
                    }
                }
                eprintln!("{line}");
                prev = now;
            }
        },
    );
    let elapsed = gw.started.elapsed();
    let fin = gw.shutdown();
    let mut text = summary(&fin.workers, &fin.mgmt, elapsed);
    for (i, (e, q)) in fin.eth.iter().zip(fin.queues.iter()).enumerate() {
        text.push_str(&format!(
            "\n  port {i}: ipackets {} opackets {} imissed {} ierrors {} rx_nombuf {} oerrors {} (queues: rx {} tx {} tx_full {})",
            e.ipackets, e.opackets, e.imissed, e.ierrors, e.rx_nombuf, e.oerrors, q.rx_packets, q.tx_packets, q.tx_full
        ));
    }
    text.push_str(&format!(
        "\n  mbufs in use: at start {} at end {}",
        fin.mbufs_in_use_at_start, fin.mbufs_in_use_at_end
    ));
    eprintln!("{text}");
    let mut rc = 0;
    if let Some(path) = &app.stats_json {
        let t = sum(&fin.workers);
        let drops: serde_json::Map<String, serde_json::Value> = reasons()
            .map(|(r, n)| (n.to_string(), t.counters.drops[r as usize].into()))
            .collect();
        let ports: Vec<serde_json::Value> = fin
            .eth
            .iter()
            .zip(fin.queues.iter())
            .enumerate()
            .map(|(i, (e, q))| {
                serde_json::json!({"port": i, "eth": e, "rx_packets": q.rx_packets, "tx_packets": q.tx_packets,
                    "rx_bytes": q.rx_bytes, "tx_bytes": q.tx_bytes, "tx_full": q.tx_full, "rx_nombuf": q.rx_nombuf})
            })
            .collect();
        let report = serde_json::json!({
            "schema": 1,
            "backend": "dpdk",
            "duration_s": elapsed.as_secs_f64(),
            "totals": {
                "rx_packets": t.counters.rx_packets,
                "rx_bytes": t.counters.rx_bytes,
                "forwarded": t.counters.forwarded,
                "tx_packets": t.counters.tx_packets,
                "tx_bytes": t.counters.tx_bytes,
                "encapsulated": t.counters.encapsulated,
                "decapsulated": t.counters.decapsulated,
                "dropped": t.counters.drops.iter().sum::<u64>(),
            },
            "drops": drops,
            "ports": ports,
            "lcores": fin.workers.iter().map(|w| serde_json::json!({
                "lcore": w.lcore,
                "rx_packets": w.counters.rx_packets,
                "forwarded": w.counters.forwarded,
                "drops": w.counters.drops.iter().sum::<u64>(),
            })).collect::<Vec<_>>(),
            "mbufs_in_use_at_start": fin.mbufs_in_use_at_start,
            "mbufs_in_use_at_end": fin.mbufs_in_use_at_end,
            "engine": fin.mgmt,
        });
        if let Err(e) = std::fs::write(
            path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        ) {
            eprintln!("xfgate: cannot write --stats-json {path}: {e}");
            rc = 1;
        }
    }
    dp::eal_cleanup();
    rc
}
