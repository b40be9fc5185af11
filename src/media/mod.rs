//! The media layer: mediasoup workers, routers and transports.

pub mod codecs;
pub mod ktls_fix;
pub mod observe;
pub mod pipes;
pub mod registry;
pub mod stats;
pub mod workers;

use mediasoup::prelude::*;
use mediasoup::worker::WorkerLogLevel;
use std::io;

/// Where a transport or WebRtcServer listens: `mediasoup.rtc_listen_ip`,
/// announced as `mediasoup.announced_address`, on `port` (or a free port of
/// the worker's range when `None`).
pub fn listen_info(
    config: &crate::config::MediasoupConfig,
    protocol: Protocol,
    port: Option<u16>,
) -> ListenInfo {
    ListenInfo {
        protocol,
        ip: config.rtc_listen_ip,
        announced_address: config.announced_address.clone(),
        expose_internal_ip: false,
        port,
        port_range: None,
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    }
}

/// Worker settings for Ejtimaa: warnings and errors only, no debug log tags
/// (mediasoup's own default is debug level with every tag, which costs CPU
/// for logs nobody reads), default RTC port range (10000..=59999).
pub fn worker_settings() -> WorkerSettings {
    let mut settings = WorkerSettings::default();
    settings.log_level = WorkerLogLevel::Warn;
    settings.log_tags = Vec::new();
    settings
}

/// Creates a mediasoup worker (a thread of this process) with `settings`.
///
/// Always create workers through this function: it makes sure the OpenSSL
/// fix in [`ktls_fix`] is linked and active, and refuses to start a worker
/// that would crash at its first DTLS handshake.
pub async fn create_worker(
    manager: &WorkerManager,
    settings: WorkerSettings,
) -> io::Result<Worker> {
    ktls_fix::ensure_linked();
    if !ktls_fix::is_active() {
        return Err(io::Error::other(
            "BIO_ctrl is not exported from this executable, so the mediasoup worker would crash \
             at its first DTLS record; build it as part of the `ejtimaa` package (its build.rs \
             passes -Wl,--export-dynamic-symbol=BIO_ctrl)",
        ));
    }
    manager.create_worker(settings).await
}
