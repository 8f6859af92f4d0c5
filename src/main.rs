//! `xfgate [EAL options] -- [app options]`, `xfgate demo`, `xfgate ctl`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xfgate::gateway::{demo, sa_counters, stats_report, Gateway, GatewayOpts};
use xfgate::mgmt::{MgmtCounters, Op, Strategy};
use xfgate::stats;

/// What the binary adds to the option parser's usage text.
const USAGE_EXTRA: &str = "
       xfgate bench [SCENARIO...] [--quick] [--reps N] [--out FILE.json]
                    (throughput lab; see xfgate bench --help)
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench") {
        std::process::exit(xfgate::bench::bench_main(&args[1..]));
    }
    // With DPDK, everything before `--` goes to rte_eal_init unchanged (EAL
    // judges its own options); only the application options are parsed here.
    #[cfg(feature = "dpdk")]
    if !matches!(
        args.first().map(String::as_str),
        Some("demo" | "ctl" | "-h" | "--help" | "--version")
    ) {
        std::process::exit(dpdk_main(&args));
    }
    let cmd = match xfgate::cli::parse(args.iter().cloned()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", e.line());
            std::process::exit(2);
        }
    };
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
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
    use xfgate::cli::Command as Cli;
    match cmd {
        Cli::Help => {
            print!("{}", xfgate::cli::USAGE);
            print!("{USAGE_EXTRA}");
            return;
        }
        Cli::Version => {
            println!("{}", xfgate::cli::version_line());
            return;
        }
        Cli::Ctl(c) => std::process::exit(ctl_main(&c)),
        Cli::Demo(d) => {
            let layout = d.layout(ncpu).unwrap_or_else(|e| fail(e));
            app.opts.workers = layout
                .workers
                .iter()
                .map(|&l| (l as usize, l as usize % ncpu))
                .collect();
            app.opts.strategy = strategy(d.cache);
            app.opts.flows = d.flows;
            if d.replay_window != xfgate::cli::DEFAULT_REPLAY_WINDOW {
                app.opts.replay_window = Some(d.replay_window);
            }
            app.stats_interval = d.stats_interval.map_or(0.0, |i| i.as_secs_f64());
            app.stats_json = d.stats_json.map(|p| p.display().to_string());
            app.duration = d.duration.map(|d| d.as_secs_f64());
            app.churn = d.churn.unwrap_or(0.0);
            app.ctl = Some(d.ctl);
            app.verbose = d.verbose > 0;
            app.opts.vdevs = demo::vdevs(4096);
            app.opts.unprotected = demo::UNPROTECTED;
            app.opts.config = Some(("built-in demo configuration".into(), demo::config()));
        }
        Cli::Run(g) => {
            app_from(&g.app, &mut app);
            app.file_prefix = g.eal.file_prefix.clone();
            {
                let layout = g.layout(ncpu).unwrap_or_else(|e| fail(e));
                app.opts.workers = layout
                    .workers
                    .iter()
                    .map(|&l| (l as usize, l as usize % ncpu))
                    .collect();
                if let Some(n) = g.eal.ignored_notice() {
                    eprintln!("{n}");
                }
                app.opts.vdevs = g.eal.vdevs.clone();
                if app.opts.vdevs.is_empty() {
                    fail("no ports: give at least one --vdev (or run 'xfgate demo')");
                }
            }
        }
    }
    std::process::exit(run(app));
}

/// `xfgate [EAL options] -- [app options]` with DPDK.
#[cfg(feature = "dpdk")]
fn dpdk_main(args: &[String]) -> i32 {
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let eal = &args[..split];
    let app_args = std::iter::once("--".to_string()).chain(args.iter().skip(split + 1).cloned());
    let g = match xfgate::cli::parse(app_args) {
        Ok(xfgate::cli::Command::Run(g)) => g,
        Ok(_) => return 2,
        Err(e) => {
            eprintln!("{}", e.line());
            return 2;
        }
    };
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
    app_from(&g.app, &mut app);
    // `--file-prefix` names this instance's default control socket.
    let prefix = eal
        .iter()
        .position(|a| a == "--file-prefix")
        .and_then(|i| eal.get(i + 1).cloned())
        .or_else(|| {
            eal.iter()
                .find_map(|a| a.strip_prefix("--file-prefix=").map(str::to_string))
        });
    if prefix.is_some() && app.ctl == Some(xfgate::cli::default_ctl_path(None)) {
        app.ctl = Some(xfgate::cli::default_ctl_path(prefix.as_deref()));
    }
    app.file_prefix = prefix;
    run_dpdk(app, eal)
}

fn strategy(c: xfgate::cli::CacheMode) -> Strategy {
    match c {
        xfgate::cli::CacheMode::Selective => Strategy::Selective,
        xfgate::cli::CacheMode::FlushAll => Strategy::FlushAll,
        xfgate::cli::CacheMode::Off => Strategy::Off,
    }
}

/// The application options, as the gateway takes them.
fn app_from(a: &xfgate::cli::AppArgs, app: &mut App) {
    if let Some(f) = &a.config_file {
        let text = std::fs::read_to_string(f)
            .unwrap_or_else(|e| fail(format!("cannot read -f {}: {e}", f.display())));
        app.opts.config = Some((f.display().to_string(), text));
    }
    app.opts.portmask = (a.portmask != xfgate::cli::PortMask::ALL).then_some(a.portmask.0);
    app.opts.unprotected = a.unprotected.0;
    app.opts.queue_map = a
        .queue_map
        .iter()
        .map(|q| (q.port, q.queue, q.lcore as usize))
        .collect();
    app.opts.strategy = strategy(a.cache);
    app.opts.flows = a.flows;
    app.opts.mtu = a.mtu;
    // `--replay-window` overrides every SA's window; at its default (64) each SA
    // keeps its own (the configuration grammar defaults those to 64 as well).
    if a.replay_window != xfgate::cli::DEFAULT_REPLAY_WINDOW {
        app.opts.replay_window = Some(a.replay_window);
    }
    app.ctl = Some(a.ctl.clone());
    app.stats_interval = a.stats_interval.map_or(0.0, |i| i.as_secs_f64());
    app.stats_json = a.stats_json.as_ref().map(|p| p.display().to_string());
    app.duration = a.duration.map(|d| d.as_secs_f64());
    app.verbose = a.verbose > 0;
}

/// `xfgate ctl [--ctl PATH] [--json] [-batch FILE | WORDS...]`.
fn ctl_main(c: &xfgate::cli::CtlArgs) -> i32 {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match xfgate::ctl::run_ctl(c, &mut out, &mut err) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("xfgate: ctl: {e}");
            1
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
