//! Generate the DPDK bindings from the system's headers (`pkg-config libdpdk`).
//!
//! The `pkg-config` crate drops DPDK's `-include rte_config.h -march=...`
//! cflags, so `pkg-config` is run directly and its flags go to both bindgen
//! and cc. Static inline functions (`rte_eth_rx_burst`, `rte_pktmbuf_alloc`,
//! ...) are wrapped by bindgen (`wrap_static_fns`) into a C file compiled
//! here; `helpers.c` covers what bindgen cannot express (thread-local
//! `rte_errno`, configuration macros).

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The DPDK release these bindings are written and tested against.
const WANT_MAJOR_MINOR: &str = "22.11";

fn pkg_config(args: &[&str]) -> String {
    let out = match Command::new("pkg-config").args(args).arg("libdpdk").output() {
        Ok(o) => o,
        Err(e) => fail(&format!(
            "cannot run pkg-config ({e}); install it: apt-get install -y pkg-config libdpdk-dev libclang-dev \
             (or run scripts/setup-dpdk.sh)"
        )),
    };
    if !out.status.success() {
        fail(&format!(
            "`pkg-config {} libdpdk` failed: {}\nDPDK development files are missing: \
             apt-get install -y libdpdk-dev libclang-dev pkg-config (or run scripts/setup-dpdk.sh); \
             build without the `dpdk` feature to use the software ports only",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn fail(msg: &str) -> ! {
    eprintln!("dpdk-sys: {msg}");
    panic!("dpdk-sys: {msg}");
}

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=helpers.h");
    println!("cargo:rerun-if-changed=helpers.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = pkg_config(&["--modversion"]);
    let mm: Vec<&str> = version.split('.').take(2).collect();
    if mm.join(".") != WANT_MAJOR_MINOR {
        fail(&format!(
            "found DPDK {version} (pkg-config libdpdk), but these bindings need DPDK {WANT_MAJOR_MINOR}.x \
             (Debian 12's libdpdk-dev); point PKG_CONFIG_PATH at a {WANT_MAJOR_MINOR} install"
        ));
    }
    println!("cargo:version={version}");
    println!("cargo:rustc-env=DPDK_SYS_VERSION={version}");

    let cflags: Vec<String> = pkg_config(&["--cflags"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let libs = pkg_config(&["--libs"]);

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let wrap_c = out.join("static_fns.c");

    let bindings = bindgen::Builder::default()
        .header(manifest.join("wrapper.h").to_string_lossy())
        .clang_args(cflags.iter())
        .clang_arg("-DALLOW_EXPERIMENTAL_API")
        .clang_arg(format!("-I{}", manifest.display()))
        .allowlist_function("rte_.*")
        .allowlist_function("xfg_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .blocklist_function("rte_.*_dump")
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrap_c)
        .derive_default(true)
        // Packed DPDK headers (GTP, flow items) cannot derive Debug.
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| {
            fail(&format!(
                "bindgen failed on the DPDK {version} headers: {e}"
            ))
        });
    bindings
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings.rs: {e}")));

    let mut cc = cc::Build::new();
    for f in &cflags {
        cc.flag(f);
    }
    cc.define("ALLOW_EXPERIMENTAL_API", None)
        .include(&manifest)
        .file(manifest.join("helpers.c"))
        .file(&wrap_c)
        .warnings(false)
        .opt_level(2)
        .compile("xfgate_dpdk_helpers");

    // Shared-library build: the PMDs are plugins that EAL loads by itself.
    for tok in libs.split_whitespace() {
        if let Some(dir) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = tok.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    // The vdev bus is a plugin too (not in `pkg-config --libs`), but its
    // hot-plug API (`rte_vdev_init`/`rte_vdev_uninit`, used by `xfgate
    // bench`) is called directly: link it. EAL's plugin loading finds the
    // same, already loaded library.
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");
}
