//! Regression guard for the DTLS crash of the mediasoup worker with Debian's
//! OpenSSL (see `src/media/ktls_fix.rs`): a real worker, router and
//! WebRtcTransport on 127.0.0.1 complete ICE and DTLS with a str0m client.
//!
//! If the fix goes missing the worker segfaults at the first DTLS record and
//! takes this test process down (signal 11); if the handshake merely stalls,
//! the test fails after `HANDSHAKE_DEADLINE` with the states it reached.
//!
//! The client follows the proven prototype (shared `str0m-client/`): str0m
//! 0.25 through its direct API, ICE controlling (mediasoup is ICE-lite), DTLS
//! client (so mediasoup is told the remote role is `Client` and acts as the
//! DTLS server), one host candidate on each side.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::num::{NonZeroU8, NonZeroU32};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ejtimaa::media::{self, ktls_fix};
use mediasoup::prelude::*;
use mediasoup::types::data_structures::{DtlsFingerprint, DtlsRole, DtlsState, IceState};
use str0m::config::Fingerprint;
use str0m::ice::IceCreds;
use str0m::net::{Protocol as NetProtocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

/// How long ICE + DTLS may take. On loopback it takes tens of milliseconds.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Upper bound for the whole test (worker start-up included): never hang CI.
const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// mediasoup's view of the transport, and whether str0m got its `Connected`.
#[derive(Debug)]
struct Outcome {
    ice: IceState,
    dtls: DtlsState,
    client_connected: bool,
    elapsed: Duration,
}

#[test]
fn mediasoup_completes_ice_and_dtls_with_str0m() {
    assert!(
        ktls_fix::is_active(),
        "BIO_ctrl is not exported from this test binary: the worker would crash \
         (is `-Wl,--export-dynamic-symbol=BIO_ctrl` still emitted by build.rs?)"
    );

    // Run the handshake on its own thread so that a stall anywhere (worker
    // start-up included) fails the test instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(handshake());
    });
    let outcome = match done_rx.recv_timeout(TEST_DEADLINE) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("no result within {TEST_DEADLINE:?}: worker start-up or the handshake hung")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the handshake thread panicked (its message is above)")
        }
    };

    assert!(
        outcome.dtls == DtlsState::Connected && outcome.ice == IceState::Completed,
        "mediasoup did not reach ICE Completed + DTLS Connected within \
         {HANDSHAKE_DEADLINE:?}: {outcome:?}"
    );
    assert!(
        outcome.client_connected,
        "mediasoup connected but str0m never reported Connected: {outcome:?}"
    );
    println!("ICE + DTLS completed in {:?}", outcome.elapsed);
}

/// Sets up mediasoup and a str0m client, then drives the client's UDP loop
/// until mediasoup reports ICE Completed + DTLS Connected (and str0m
/// `Connected`), DTLS fails, or `HANDSHAKE_DEADLINE` passes.
/// SRTP is libsrtp built into the worker with OpenSSL's ciphers
/// (`tools/mediasoup-offline/stubs/libsrtp3`), not Debian's shared libsrtp2,
/// which is built with NSS and made SRTP about a fifth of a worker's CPU.
/// Shared libraries a binary needs are mapped when it starts, so this
/// process's map shows what the worker links.
#[test]
fn srtp_uses_openssl_not_nss() {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    assert!(
        maps.contains("libcrypto.so"),
        "the worker's OpenSSL is not mapped:\n{maps}"
    );
    for lib in ["libsrtp2.so", "libnss3.so", "libsoftokn3.so"] {
        assert!(!maps.contains(lib), "{lib} is mapped:\n{maps}");
    }
}

fn handshake() -> Outcome {
    str0m::crypto::from_feature_flags().install_process_default();

    // --- mediasoup: worker, router, WebRtcTransport on 127.0.0.1 ----------
    let manager = WorkerManager::new();
    let (worker, router, transport) = futures_lite::future::block_on(async {
        let worker = media::create_worker(&manager, media::worker_settings())
            .await
            .expect("create worker");
        let router = worker
            .create_router(RouterOptions::new(vec![RtpCodecCapability::Audio {
                mime_type: MimeTypeAudio::Opus,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(48000).unwrap(),
                channels: NonZeroU8::new(2).unwrap(),
                parameters: RtpCodecParametersParameters::default(),
                rtcp_feedback: vec![],
            }]))
            .await
            .expect("create router");
        let listen_info = ListenInfo {
            protocol: Protocol::Udp,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            announced_address: None,
            expose_internal_ip: false,
            port: None,
            port_range: None,
            flags: None,
            send_buffer_size: None,
            recv_buffer_size: None,
        };
        let transport = router
            .create_webrtc_transport(WebRtcTransportOptions::new(
                WebRtcTransportListenInfos::new(listen_info),
            ))
            .await
            .expect("create WebRtcTransport");
        (worker, router, transport)
    });

    // --- str0m client against that transport -------------------------------
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
    let local = socket.local_addr().unwrap();
    let mut rtc: Rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap())
        .expect("local candidate accepted");
    let ms_candidate = transport
        .ice_candidates()
        .iter()
        .find(|c| c.protocol == Protocol::Udp)
        .expect("mediasoup UDP candidate");
    let ms_addr = SocketAddr::new(ms_candidate.address.parse().unwrap(), ms_candidate.port);
    rtc.add_remote_candidate(Candidate::host(ms_addr, "udp").unwrap());

    let ms_ice = transport.ice_parameters();
    let ms_fingerprint = transport
        .dtls_parameters()
        .fingerprints
        .iter()
        .find_map(|f| match f {
            DtlsFingerprint::Sha256 { value } => Some(value.to_vec()),
            _ => None,
        })
        .expect("mediasoup sha-256 fingerprint");
    let client_fingerprint = {
        let mut api = rtc.direct_api();
        // mediasoup is ICE-lite (always controlled): we control and nominate.
        api.set_ice_controlling(true);
        api.set_remote_ice_credentials(IceCreds {
            ufrag: ms_ice.username_fragment.clone(),
            pass: ms_ice.password.clone(),
        });
        api.set_remote_fingerprint(Fingerprint {
            hash_func: "sha-256".into(),
            bytes: ms_fingerprint,
        });
        api.start_dtls(true).expect("start DTLS as client"); // active = DTLS client
        let fp = api.local_dtls_fingerprint().clone();
        assert_eq!(fp.hash_func, "sha-256");
        DtlsFingerprint::Sha256 {
            value: fp.bytes.as_slice().try_into().expect("32-byte sha-256"),
        }
    };

    // `connect` takes the REMOTE (str0m) role: Client, so mediasoup is the
    // DTLS server. Connect before any packet flows.
    futures_lite::future::block_on(transport.connect(WebRtcTransportRemoteParameters {
        dtls_parameters: DtlsParameters {
            role: DtlsRole::Client,
            fingerprints: vec![client_fingerprint],
        },
    }))
    .expect("connect WebRtcTransport");

    // --- drive the client until connected, failed or out of time -----------
    let start = Instant::now();
    let mut client_connected = false;
    let mut buf = vec![0u8; 2000];
    let outcome = loop {
        let (ice, dtls) = (transport.ice_state(), transport.dtls_state());
        let done = ice == IceState::Completed && dtls == DtlsState::Connected && client_connected;
        if done || dtls == DtlsState::Failed || start.elapsed() >= HANDSHAKE_DEADLINE {
            break Outcome {
                ice,
                dtls,
                client_connected,
                elapsed: start.elapsed(),
            };
        }

        // Send what str0m wants sent, until it asks to be woken at `timeout`.
        let timeout = loop {
            match rtc.poll_output().expect("str0m poll_output") {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => client_connected = true,
                Output::Event(_) => {}
            }
        };

        // Wait for a datagram, at most until that timeout (bounded so that the
        // mediasoup states above are polled often).
        let wait = timeout
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(20));
        socket.set_read_timeout(Some(wait)).unwrap();
        let input = match socket.recv_from(&mut buf) {
            Ok((n, source)) => match buf[..n].try_into() {
                Ok(contents) => Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: NetProtocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                ),
                Err(_) => continue, // not STUN/DTLS/RTP: ignore
            },
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Input::Timeout(Instant::now())
            }
            Err(e) => panic!("client socket: {e}"),
        };
        rtc.handle_input(input).expect("str0m handle_input");
    };

    drop(transport);
    drop(router);
    drop(worker);
    outcome
}
