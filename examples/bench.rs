//! `xfgate bench` without the main binary: `cargo run --release --example bench -- [ARGS]`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(xfgate::bench::bench_main(&args));
}
