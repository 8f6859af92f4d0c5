//! Command-line and configuration errors: one clear line naming the offending
//! argument, a non-zero exit, nothing half-started.

use std::process::Command;

fn xfgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .args(args)
        .output()
        .expect("run xfgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fails_with(args: &[&str], needle: &str) {
    let (code, _, err) = xfgate(args);
    assert_ne!(code, 0, "{args:?} must fail; stderr: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

#[test]
fn help_and_version() {
    let (code, out, _) = xfgate(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("xfgate demo")
            && out.contains("--vdev")
            && out.contains("-u")
            && out.contains("xfgate bench")
    );
    let (code, out, _) = xfgate(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("xfgate "));
}

#[test]
fn bad_options_name_the_argument() {
    fails_with(&["--vdev", "net_null0", "--", "--bogus"], "'--bogus'");
    fails_with(
        &["--vdev", "net_null0", "--", "--flows", "abc"],
        "--flows value 'abc'",
    );
    fails_with(&["--vdev", "net_null0", "--", "--flows", "0"], "--flows");
    fails_with(
        &["--vdev", "net_null0", "--", "--cache", "sometimes"],
        "'sometimes'",
    );
    fails_with(
        &["--vdev", "net_null0", "--", "--replay-window", "5000"],
        "--replay-window value '5000'",
    );
    fails_with(&["--vdev", "net_null0", "--", "-u", "zz"], "-u value 'zz'");
    fails_with(
        &["--vdev", "net_null0", "--", "--duration"],
        "'--duration' needs a value",
    );
    fails_with(&["-l", "x-y", "--vdev", "net_null0"], "-l value 'x-y'");
    fails_with(
        &["-l", "0,77", "--vdev", "net_null0"],
        "lcore 77 does not exist",
    );
    fails_with(&["--frobnicate"], "'--frobnicate'");
    fails_with(
        &["--vdev", "net_null0", "--", "--config", "(0,0"],
        "--config",
    );
    fails_with(
        &["--vdev", "net_null0", "--", "--config", "(3,0,1)"],
        "no port 3",
    );
    fails_with(&[], "no ports");
}

#[test]
fn bad_devices_name_the_device() {
    fails_with(&["--vdev", "net_bogus0"], "net_bogus0");
    fails_with(
        &["--vdev", "net_pcap0,rx_pcap=/nonexistent/x.pcap"],
        "/nonexistent/x.pcap",
    );
    fails_with(&["--vdev", "gen0,flows=abc"], "flows");
    fails_with(&["--vdev", "net_pcap0,rx_iface=eth0"], "rx_iface");
}

#[test]
fn bad_configuration_gives_file_line_column() {
    let d = std::env::temp_dir().join(format!("xfgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("bad.cfg");
    std::fs::write(&f, "# comment\nroute add 10.0.0.0/8 port 1\npolicy add src 10.0.0.0/33 dst 0.0.0.0/0 dir out\n").unwrap();
    let fs = f.to_str().unwrap();
    fails_with(
        &["--vdev", "net_null0", "--", "-f", fs],
        &format!("{fs}:3:"),
    );
    fails_with(&["--vdev", "net_null0", "--", "-f", fs], "10.0.0.0/33");
    std::fs::write(&f, "sa out 5 cipher_algo aes-128-cbc\n").unwrap();
    fails_with(&["--vdev", "net_null0", "--", "-f", fs], "cipher_algo");
    // A semantically bad line (duplicate SA) also names its place, and nothing runs.
    std::fs::write(
        &f,
        "state add src 1.1.1.1 dst 2.2.2.2 proto esp spi 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128\n\
         state add src 1.1.1.1 dst 2.2.2.2 proto esp spi 1 mode tunnel aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128\n",
    )
    .unwrap();
    fails_with(
        &["--vdev", "net_null0", "--", "-f", fs],
        &format!("{fs}:2:1"),
    );
    fails_with(
        &["--vdev", "net_null0", "--", "-f", "/nonexistent.cfg"],
        "/nonexistent.cfg",
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn runs_and_exits_cleanly_with_duration_and_writes_json() {
    let d = std::env::temp_dir().join(format!("xfgate-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let cfg = d.join("gw.cfg");
    std::fs::write(
        &cfg,
        "policy setdefault out allow\nroute add 0.0.0.0/0 port 1\n",
    )
    .unwrap();
    let json = d.join("stats.json");
    let (code, _, err) = xfgate(&[
        "-l",
        "0-1",
        "--no-pci",
        "--in-memory",
        "--vdev",
        "gen0,flows=64,count=5000",
        "--vdev",
        "net_null1,no-rx=1",
        "--",
        "-u",
        "0x2",
        "-f",
        cfg.to_str().unwrap(),
        "--duration",
        "10",
        "--stats-json",
        json.to_str().unwrap(),
        "--ctl",
        d.join("ctl.sock").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("ignoring EAL options --no-pci --in-memory"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["totals"]["rx_packets"], 5000);
    assert_eq!(v["totals"]["forwarded"], 5000);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn sigint_drains_prints_summary_and_exits_zero() {
    let d = std::env::temp_dir().join(format!("xfgate-cli-sig-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let json = d.join("stats.json");
    let child = Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .args([
            "demo",
            "--stats-interval",
            "0",
            "--stats-json",
            json.to_str().unwrap(),
            "--ctl",
            d.join("ctl.sock").to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Send SIGINT with kill(1).
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("summary after"),
        "final summary printed: {err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let t = &v["totals"];
    assert!(t["rx_packets"].as_u64().unwrap() > 0);
    assert_eq!(
        t["rx_packets"].as_u64(),
        Some(t["forwarded"].as_u64().unwrap() + t["dropped"].as_u64().unwrap())
    );
    assert_eq!(
        v["engine"]["policies_live"], 0,
        "live object counters end at zero"
    );
    assert_eq!(v["engine"]["sas_live"], 0);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn control_socket_changes_policy_live_and_reports() {
    use std::os::unix::fs::PermissionsExt;
    let d = std::env::temp_dir().join(format!("xfgate-cli-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let sock = d.join("gw.sock");
    let s = sock.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xfgate"))
        .args([
            "--vdev",
            "gen0,flows=64,rate=20000",
            "--vdev",
            "net_null1,no-rx=1",
            "--",
        ])
        .args([
            "-u",
            "0x2",
            "--ctl",
            s,
            "--stats-interval",
            "0",
            "--duration",
            "20",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !sock.exists() {
        assert!(t.elapsed().as_secs() < 10, "control socket appears");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket is private");
    let ctl = |words: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xfgate"))
            .arg("ctl")
            .args(["--ctl", s])
            .args(words)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = ctl(&[
        "policy",
        "add",
        "src",
        "10.0.0.0/16",
        "dst",
        "10.1.0.0/16",
        "dir",
        "out",
        "index",
        "8",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, _) = ctl(&["policy", "count"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), "1");
    let (code, out, _) = ctl(&["policy", "count", "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["count"],
        1
    );
    let (code, out, _) = ctl(&["policy", "get", "index", "8"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("src 10.0.0.0/16"), "{out}");
    let (code, _, err) = ctl(&["policy", "add", "src", "10.0.0.0/33"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("10.0.0.0/33"), "{err}");
    let (code, _, err) = ctl(&["route", "add", "0.0.0.0/0", "port", "1"]);
    assert_eq!(code, Some(0), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, out, _) = ctl(&["stats", "--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["totals"]["rx_packets"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["engine"]["policies_live"], 1);
    let (code, _, _) = ctl(&["policy", "delete", "index", "8"]);
    assert_eq!(code, Some(0));
    let (_, out, _) = ctl(&["policy", "count"]);
    assert_eq!(out.trim(), "0");
    // Garbage does not disturb anything.
    let (code, _, _) = ctl(&["\u{1}\u{2}garbage"]);
    assert_ne!(code, Some(0));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(!sock.exists(), "socket removed on exit");
    let _ = std::fs::remove_dir_all(d);
}

/// `xfgate bench` with EAL options: a build without DPDK says so (exit 2,
/// nothing run); `xfgate bench --help` shows both forms.
#[test]
fn bench_eal_options_need_dpdk() {
    let (code, out, _) = xfgate(&["bench", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("xfgate bench EAL-OPTIONS --"), "{out}");
    if cfg!(feature = "dpdk") {
        // A DPDK build takes them; an EAL option after `--` is misplaced.
        fails_with(
            &["bench", "-l", "0-1", "--", "--no-pci", "--quick"],
            "'--no-pci' is an EAL option: EAL options go before '--'",
        );
        return;
    }
    for args in [
        &[
            "bench",
            "-l",
            "0-1",
            "--no-pci",
            "--in-memory",
            "--",
            "sizes",
            "--quick",
        ][..],
        &["bench", "--", "--quick"][..],
        &["bench", "-l", "0-1", "--quick"][..],
    ] {
        let (code, _, err) = xfgate(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("built without DPDK") && err.contains("--features dpdk"),
            "{args:?}: {err}"
        );
    }
}
