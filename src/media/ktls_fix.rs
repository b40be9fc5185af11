//! Keeps the mediasoup worker from crashing at its first DTLS record when it
//! runs on Debian's OpenSSL.
//!
//! Our worker is built against the system OpenSSL (see
//! `tools/mediasoup-offline/README.md`). Debian's libssl is built with kernel
//! TLS support, so during a DTLS handshake it asks the outgoing BIO whether
//! kernel TLS send is on (`BIO_CTRL_GET_KTLS_SEND`). mediasoup's BIO callback
//! answers 1 to every control query, libssl believes kernel TLS is on, never
//! allocates its DTLS write buffer, and writes through a null pointer: the
//! whole process segfaults, whatever the DTLS role. (Upstream's bundled
//! OpenSSL lacks kernel TLS, which hides the bug there.)
//!
//! The fix: the executable defines its own [`BIO_ctrl`], which answers 0
//! ("off") to the two kernel-TLS queries and forwards every other call to the
//! real one in libcrypto. The root package's `build.rs` exports that symbol
//! from every executable (`-Wl,--export-dynamic-symbol=BIO_ctrl`), so libssl's
//! calls resolve to it rather than to libcrypto's. Nothing in this process
//! uses kernel TLS, so answering "off" is always right.
//!
//! `tests/dtls_handshake.rs` guards the fix: it completes a real handshake.

use std::ffi::{c_int, c_long, c_void};
use std::sync::OnceLock;

/// `BIO_CTRL_GET_KTLS_SEND` in OpenSSL 3's `<openssl/bio.h>`.
const BIO_CTRL_GET_KTLS_SEND: c_int = 73;
/// `BIO_CTRL_GET_KTLS_RECV` in OpenSSL 3's `<openssl/bio.h>`.
const BIO_CTRL_GET_KTLS_RECV: c_int = 76;

/// C signature of `long BIO_ctrl(BIO *bp, int cmd, long larg, void *parg)`.
type BioCtrlFn = unsafe extern "C" fn(*mut c_void, c_int, c_long, *mut c_void) -> c_long;

/// libcrypto's `BIO_ctrl`, looked up once on first use.
static NEXT_BIO_CTRL: OnceLock<BioCtrlFn> = OnceLock::new();

/// The `BIO_ctrl` that comes after ours in symbol lookup order (libcrypto's).
fn next_bio_ctrl() -> BioCtrlFn {
    *NEXT_BIO_CTRL.get_or_init(|| {
        // SAFETY: dlsym is given a valid NUL-terminated name and the
        // RTLD_NEXT pseudo-handle, which glibc documents for exactly this use
        // (finding the definition an interposer wraps).
        let sym = unsafe { libc::dlsym(libc::RTLD_NEXT, c"BIO_ctrl".as_ptr()) };
        if sym.is_null() {
            // Cannot forward, and unwinding into C is not an option.
            eprintln!("ejtimaa ktls_fix: dlsym(RTLD_NEXT, \"BIO_ctrl\") found nothing; aborting");
            std::process::abort();
        }
        // SAFETY: the symbol is libcrypto's `BIO_ctrl`, whose C signature is
        // exactly `BioCtrlFn`; a non-null data pointer from dlsym is the
        // function's address on the platforms glibc supports.
        unsafe { std::mem::transmute::<*mut c_void, BioCtrlFn>(sym) }
    })
}

/// Interposes OpenSSL's `BIO_ctrl`: answers 0 to the kernel-TLS queries
/// (`BIO_CTRL_GET_KTLS_SEND`, `BIO_CTRL_GET_KTLS_RECV`) and forwards every
/// other call unchanged to libcrypto's `BIO_ctrl`.
///
/// Not meant to be called from Rust: libssl calls it, because every
/// executable of this package exports it (see the module docs).
///
/// # Safety
///
/// Same contract as OpenSSL's `BIO_ctrl`: `b` must be a valid `BIO` (or null
/// where OpenSSL allows it) and `parg` must be what `cmd` expects.
#[unsafe(no_mangle)]
#[allow(non_snake_case)] // must carry OpenSSL's exact symbol name
pub unsafe extern "C" fn BIO_ctrl(
    b: *mut c_void,
    cmd: c_int,
    larg: c_long,
    parg: *mut c_void,
) -> c_long {
    if cmd == BIO_CTRL_GET_KTLS_SEND || cmd == BIO_CTRL_GET_KTLS_RECV {
        return 0;
    }
    // SAFETY: forwarded verbatim to the real BIO_ctrl; the caller upholds
    // its contract.
    unsafe { next_bio_ctrl()(b, cmd, larg, parg) }
}

/// Makes sure [`BIO_ctrl`] ends up in the final executable.
///
/// The interposer lives in this library, and a linker may leave out of an
/// executable any object of an rlib that nothing references. Taking the
/// function's address here makes every caller of this function (the
/// worker-creation path in [`crate::media`]) reference it.
#[inline(never)]
pub fn ensure_linked() {
    let f: BioCtrlFn = BIO_ctrl;
    std::hint::black_box(f);
}

/// Whether OpenSSL's calls to `BIO_ctrl` resolve to our interposer in this
/// process, i.e. whether the executable exports it. When this is false, a
/// mediasoup worker will crash at its first DTLS record.
pub fn is_active() -> bool {
    ensure_linked();
    // SAFETY: dlsym with the RTLD_DEFAULT pseudo-handle and a valid
    // NUL-terminated name; it only looks the symbol up.
    let global = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"BIO_ctrl".as_ptr()) };
    global as usize == BIO_ctrl as BioCtrlFn as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_tls_queries_answer_off() {
        // Neither query dereferences the BIO in our interposer.
        let null = std::ptr::null_mut();
        // SAFETY: the two kernel-TLS commands return before touching `b`.
        unsafe {
            assert_eq!(BIO_ctrl(null, BIO_CTRL_GET_KTLS_SEND, 0, null), 0);
            assert_eq!(BIO_ctrl(null, BIO_CTRL_GET_KTLS_RECV, 0, null), 0);
        }
    }

    #[test]
    fn interposer_is_exported() {
        assert!(
            is_active(),
            "BIO_ctrl is not exported from this test binary"
        );
    }
}
