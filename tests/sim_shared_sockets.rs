//! Sim peers share UDP sockets (one per hub, see `sim/src/peer/hub.rs`),
//! telling datagrams apart by the server address they come from. Against a
//! server whose worker runs a WebRtcServer every transport has the same
//! server address, so each must get a socket of its own: here three peers
//! in one room of such a server exchange all their media, and each
//! consumer gets its packets and no other's.

mod support;

use std::time::Duration;

use ejtimaa_sim::peer::{MediaKind, Peer, PeerConfig};
use support::*;

const ROOM: &str = "webrtc-server-room";
/// The whole scenario, server start-up excluded: never hang CI.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_on_one_server_port_each_get_their_own_media() {
    let mut config = test_config();
    config.mediasoup.webrtc_server_port = Some(webrtc_server_port());
    let server = start(config).await;
    let url = format!("http://{}", server.signaling_addr);
    tokio::time::timeout(DEADLINE, async {
        let mut peers = Vec::new();
        for id in ["a", "b", "c"] {
            let config = PeerConfig {
                video_bitrate: 200_000,
                video_fps: 15,
                ..PeerConfig::new(ROOM, id)
            };
            peers.push(Peer::spawn(&url, config).await.expect("joins"));
        }
        wait_for(
            "every peer to receive audio and video from both others",
            Duration::from_secs(15),
            async || {
                peers
                    .iter()
                    .all(|p| {
                        let snap = p.stats().snapshot();
                        let others = ["a", "b", "c"].into_iter().filter(|o| *o != p.id());
                        others.into_iter().all(|other| {
                            [MediaKind::Audio, MediaKind::Video].iter().all(|kind| {
                                snap.consumers_of(other)
                                    .any(|c| c.kind == *kind && c.received.packets > 20)
                            })
                        })
                    })
                    .then_some(())
            },
        )
        .await;
        for p in &peers {
            let snap = p.stats().snapshot();
            assert!(snap.send_connected && snap.recv_connected, "{}", p.id());
            assert_eq!(
                snap.unknown_ssrc_packets,
                0,
                "{} got another's packets",
                p.id()
            );
        }
        for p in peers {
            p.leave().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the scenario took longer than {DEADLINE:?}"));
    server.shutdown().await;
}
