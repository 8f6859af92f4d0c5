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
                    (throughput lab on software ports; see xfgate bench --help)
       xfgate bench [EAL options] -- [SCENARIO...] [bench options]
                    (the same on DPDK ports, a build with --features dpdk:
                    e.g. xfgate bench -l 0-1 --no-pci --in-memory -- sizes --quick)
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

/// The management core's CPU (the main lcore's, as DPDK pins it), unless
/// the only worker shares it: then the scheduler keeps the two apart as it can.
fn mgmt_cpu(layout: &xfgate::cli::LcoreLayout, ncpu: usize) -> Option<usize> {
    (!layout.mgmt_shares_cpu).then_some(layout.mgmt as usize % ncpu.max(1))
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
            app.opts.mgmt_cpu = mgmt_cpu(&layout, ncpu);
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
                app.opts.mgmt_cpu = mgmt_cpu(&layout, ncpu);
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

/// The running control socket.
struct Ctl {
    stop: Arc<AtomicBool>,
    handle: Option<xfgate::ctl::CtlServerHandle>,
}

impl Ctl {
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle {
            h.join();
        }
    }
}

/// Bind and serve the control socket (mode 0600); `None` (after saying why)
/// when the path cannot be had.
fn serve_ctl(app: &App, state: xfgate::gateway::control::ControlState) -> Option<Ctl> {
    let ctl_path = app
        .ctl
        .clone()
        .unwrap_or_else(|| xfgate::cli::default_ctl_path(app.file_prefix.as_deref()));
    let server = match xfgate::ctl::CtlServer::bind(&ctl_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xfgate: {e} (give another path with --ctl or --file-prefix)");
            return None;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let handle = match server.serve(
        xfgate::gateway::control::handler(Arc::new(state)),
        stop.clone(),
    ) {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("xfgate: control socket {}: {e}", ctl_path.display());
            None
        }
    };
    eprintln!("xfgate: control socket {}", ctl_path.display());
    Some(Ctl { stop, handle })
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
    let Some(ctl) = serve_ctl(&app, gw.control_state()) else {
        let _ = gw.shutdown();
        return 1;
    };
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
    ctl.stop();
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
    let ports_cfg = dp::DpdkPortsConfig {
        extra_mbufs: dp::infinite_rx_mbufs(eal),
        ..dp::DpdkPortsConfig::default()
    };
    let gw = match DpdkGateway::start(&app.opts, ports_cfg) {
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
    let Some(ctl) = serve_ctl(&app, gw.control_state()) else {
        let _ = gw.shutdown();
        dp::eal_cleanup();
        return 1;
    };
    let interval = if app.stats_interval > 0.0 {
        Duration::from_secs_f64(app.stats_interval)
    } else {
        Duration::from_secs(3600)
    };
    let mut prev = (Instant::now(), gw.report(&MgmtCounters::default()));
    gw.run(
        &stop,
        app.duration.map(Duration::from_secs_f64),
        interval,
        |g| {
            if app.stats_interval > 0.0 {
                let m = g.mgmt_counters().unwrap_or_default();
                let now = Instant::now();
                let cur = g.report(&m);
                eprintln!("{}", stats::live_line(&prev.1, &cur, now - prev.0));
                prev = (now, cur);
            }
        },
    );
    ctl.stop();
    let elapsed = gw.started.elapsed();
    let fin = gw.shutdown();
    let report = fin.report(elapsed);
    eprintln!("{}", stats::summary(&report));
    eprintln!(
        "  mbufs in use: at start {} at end {}",
        fin.mbufs_in_use_at_start, fin.mbufs_in_use_at_end
    );
    if let Err(e) = report.check_accounting() {
        eprintln!("xfgate: WARNING: {e}");
    }
    let mut rc = 0;
    if let Some(path) = &app.stats_json {
        if let Err(e) = std::fs::write(path, fin.report_json(elapsed)) {
            eprintln!("xfgate: cannot write --stats-json {path}: {e}");
            rc = 1;
        }
    }
    dp::eal_cleanup();
    rc
}
