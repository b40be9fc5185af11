//! Build script of the root package `ejtimaa`.

fn main() {
    // mediasoup-sys' libmediasoup-worker.a is built against Debian's shared
    // libuv and OpenSSL by tools/mediasoup-offline (their meson stand-ins
    // only hand out empty archives), so the final link needs them. libsrtp is
    // inside the archive (built from tools/mediasoup-offline/stubs/libsrtp3).
    for lib in ["uv", "ssl", "crypto"] {
        println!("cargo:rustc-link-lib={lib}");
    }

    // Export our BIO_ctrl interposer (src/media/ktls_fix.rs) from the
    // executable so that libssl's calls resolve to it instead of libcrypto's;
    // without it the worker segfaults at its first DTLS record. `rustc-link-arg`
    // (unlike `-arg-bin=`) applies to every executable of this package: the
    // server binary, integration tests, unit tests, benches and examples.
    println!("cargo:rustc-link-arg=-Wl,--export-dynamic-symbol=BIO_ctrl");

    println!("cargo:rerun-if-changed=build.rs");
}
