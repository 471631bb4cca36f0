//! Build script of dpdk-sys: finds the system DPDK with pkg-config, generates the Rust
//! bindings with bindgen (plus C wrappers for DPDK's `static inline` functions), compiles those
//! wrappers and `csrc/shim.c` with DPDK's own cflags, and emits the link flags.
//!
//! Order matters for linking: the wrapper library is announced before the DPDK libraries, so
//! the linker sees its references to `rte_*` before the shared objects that define them.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The one line a machine without DPDK gets.
const MISSING: &str = "dpdk-sys: pkg-config cannot find libdpdk; on Debian 12 install it with \
                       `apt-get install -y libdpdk-dev dpdk dpdk-dev clang libclang-dev`";

/// DPDK libraries that `pkg-config --libs libdpdk` does not list but this crate calls:
/// `rte_vdev_init`/`rte_vdev_uninit` (bus_vdev) and `rte_eth_from_rings` (the ring PMD).
const EXTRA_LIBS: [&str; 2] = ["rte_bus_vdev", "rte_net_ring"];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let csrc = manifest.join("csrc");
    for file in ["wrapper.h", "shim.h", "shim.c"] {
        println!("cargo:rerun-if-changed={}", csrc.join(file).display());
    }
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Presence check first, without emitting link flags yet (see the module comment).
    if pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libdpdk")
        .is_err()
    {
        println!("cargo:warning={MISSING}");
        panic!("{MISSING}");
    }
    let cflags = dpdk_cflags();

    let header = csrc.join("wrapper.h");
    let wrappers = out.join("extern");
    let bindings = bindgen::Builder::default()
        .header(header.to_str().expect("UTF-8 path"))
        .clang_args(&cflags)
        .allowlist_function(
            "rte_(eal_init|eal_cleanup|strerror|lcore_id|socket_id\
             |eth_dev_.*|eth_rx_.*|eth_tx_.*|eth_link_.*|eth_macaddr_get|eth_promiscuous_.*\
             |eth_iterator_.*|eth_stats_.*|eth_from_rings\
             |pktmbuf_.*|mempool_free|mempool_avail_count|mempool_in_use_count|mempool_lookup\
             |vdev_init|vdev_uninit|dev_probe|dev_remove\
             |ring_create|ring_free|ring_count|ring_dequeue_burst)",
        )
        .allowlist_function("shim_.*")
        .allowlist_var(
            "RTE_(ETH_LINK_(UP|DOWN)|MAX_ETHPORTS|PKTMBUF_HEADROOM|ETH_NAME_MAX_LEN\
             |MEMPOOL_CACHE_MAX_SIZE|ETHER_ADDR_LEN|MEMZONE_NAMESIZE)\
             |SOCKET_ID_ANY|RING_F_(SP_ENQ|SC_DEQ)",
        )
        .allowlist_type("rte_eth_conf|rte_eth_dev_info|rte_eth_link|rte_ether_addr|rte_eth_stats")
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers)
        .layout_tests(false)
        .generate_comments(false)
        .derive_default(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on csrc/wrapper.h");
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    // The static-inline wrappers (extern.c) and the shim, compiled as DPDK's users compile.
    let mut build = cc::Build::new();
    build
        .file(wrappers.with_extension("c"))
        .file(csrc.join("shim.c"))
        .include(&csrc)
        .warnings(false);
    for flag in &cflags {
        build.flag(flag);
    }
    build.compile("dpdk_sys_shim");

    // Now the DPDK libraries, after the shim on the link line.
    pkg_config::Config::new()
        .probe("libdpdk")
        .unwrap_or_else(|_| panic!("{MISSING}"));
    for lib in EXTRA_LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}

/// `pkg-config --cflags libdpdk`, split into words (DPDK's contain no quoted spaces), e.g.
/// `-I/usr/include/dpdk -include rte_config.h -march=corei7`.
fn dpdk_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let output = Command::new(&pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|error| panic!("{MISSING} (running {pkg_config}: {error})"));
    if !output.status.success() {
        panic!("{MISSING}");
    }
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
