//! Admitting a connection: its join token and ids checked, its room found
//! or opened within the limits, a peer it replaces closed, and its request
//! and disconnect handlers registered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ejtimaa_systems::WorldEvent;
use ejtimaa_systems::export::Limit;
use parking_lot::Mutex;
use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;

use super::auth::Credentials;
use super::gate::RequestGate;
use super::overflow::OverflowWatch;
use super::peer::{Peer, PeerState, SocketPeer};
use super::protocol::SignalingError;
use super::{MAX_ID_LEN, Signaling, on_disconnect, on_request};
use crate::cluster::Placement;

/// Seconds since the Unix epoch, for token expiry.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn query_param(socket: &SocketRef, key: &str) -> Option<String> {
    let query = socket.req_parts().uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Connect middleware: admits the peer into its room, or refuses the
/// connection with a reason (the client gets a `connect_error`).
///
/// Handlers are registered here, not in the connect handler: socketioxide
/// runs this before it confirms the connection, but the connect handler
/// after, so a client that sends a request at once could otherwise find no
/// handler.
pub(super) async fn admit(
    socket: SocketRef,
    auth: Option<Value>,
    ctx: Arc<Signaling>,
) -> Result<(), SignalingError> {
    let room_query = query_param(&socket, "roomId");
    let peer_query = query_param(&socket, "peerId");
    let token_query = query_param(&socket, "token");
    // The `auth` object is where socket.io clients put credentials; the
    // query serves clients that can only set a URL.
    let token = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .or(token_query.as_deref());
    let credentials = Credentials {
        token,
        room: room_query.as_deref(),
        peer: peer_query.as_deref(),
    };
    let grant = ctx
        .gate
        .admit(&credentials, unix_now())
        .map_err(SignalingError::Unauthorized)?;
    let id = |key: &'static str, value: Option<&str>| -> Result<String, SignalingError> {
        match value {
            Some(v) if !v.is_empty() && v.len() <= MAX_ID_LEN => Ok(v.to_owned()),
            Some(_) => Err(SignalingError::InvalidData {
                method: "connect",
                reason: format!("`{key}` must be 1 to {MAX_ID_LEN} bytes"),
            }),
            None => Err(SignalingError::InvalidData {
                method: "connect",
                reason: format!("missing `{key}` in the handshake query"),
            }),
        }
    };
    let room_id = id(
        "roomId",
        grant
            .as_ref()
            .map_or(room_query.as_deref(), |g| Some(&g.room)),
    )?;
    let peer_id = id(
        "peerId",
        grant
            .as_ref()
            .map_or(peer_query.as_deref(), |g| Some(&g.peer)),
    )?;
    let user_agent = socket
        .req_parts()
        .headers
        .get(axum::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();

    // One admission per peer id at a time, until the World has the peer:
    // connections with one id that arrive together are admitted one after
    // the other, each replacing the one before, so exactly one stays.
    let _turn = ctx.admitting.turn(&peer_id).await;
    // A peer id already connected: the newcomer replaces it (a reconnect),
    // but only once it is admitted; a refused one leaves it alone.
    let existing = ctx.peers.lock().get(&peer_id).cloned();

    if let Some(cluster) = &ctx.cluster {
        let open_here = ctx.rooms.get(&room_id).is_some();
        match cluster.place(&room_id, open_here).await {
            Placement::Here => {}
            Placement::Redirect(to) => return Err(SignalingError::Redirect(to)),
            Placement::Unavailable(why) => return Err(SignalingError::Unplaced(why)),
        }
    }

    let max = ctx.config.limits.max_peers_per_room;
    let peer = loop {
        let room = match ctx.rooms.get_or_create(&room_id).await {
            Ok(room) => room,
            Err(e) => {
                ctx.release_unopened(&room_id);
                return Err(e);
            }
        };
        let peer = Arc::new(Peer {
            id: peer_id.clone(),
            user_agent: user_agent.clone(),
            room_id: room.id.clone(),
            room_opened: room.opened,
            socket: socket.clone(),
            router: Default::default(),
            state: Mutex::new(PeerState::default()),
            // A reconnect keeps the rates its old connection had used up.
            requests: existing.as_ref().map_or_else(
                || RequestGate::new(&ctx.config.limits.rates, Instant::now()),
                |old| old.requests.succeeded_by(),
            ),
            outgoing: OverflowWatch::new(ctx.overflows.clone()),
            live: ctx.live_peers.mark(),
        });
        let mut members = room.peers.lock();
        if room.is_closed() {
            continue; // it closed (grace over) after we found it: open a new one
        }
        // The peer it replaces in this room frees its place.
        let replaces = existing
            .as_ref()
            .is_some_and(|old| members.get(&peer_id).is_some_and(|p| Arc::ptr_eq(p, old)));
        if members.len() - usize::from(replaces) >= max {
            drop(members);
            ctx.rooms.peer_left(&room);
            return Err(SignalingError::limit(
                Limit::PeersPerRoom,
                format!("room is full ({max} peers)"),
            ));
        }
        members.insert(peer_id.clone(), Arc::clone(&peer));
        break peer;
    };
    if let Some(old) = existing {
        // Closed before the newcomer is announced, so that the World and the
        // other peers see the old one leave first.
        tracing::info!(peer = %peer_id, "peer reconnected; closing its old connection");
        ctx.close_peer(&old);
        let _ = old.socket.clone().disconnect();
    }
    ctx.peers.lock().insert(peer_id.clone(), Arc::clone(&peer));
    // The World has the peer from its connection on: clients create their
    // transports before `join`, which then only names it.
    ctx.engine.send(WorldEvent::PeerJoined {
        peer: peer_id.as_str().into(),
        room: room_id.as_str().into(),
        display_name: String::new(),
        user_agent: peer.user_agent.clone(),
    });
    SocketPeer::attach(&peer);
    let c = Arc::clone(&ctx);
    socket.on(
        "request",
        move |socket: SocketRef, request: TryData<Value>, ack: AckSender| {
            let ctx = Arc::clone(&c);
            async move { on_request(socket, ctx, request, ack).await }
        },
    );
    let c = Arc::clone(&ctx);
    socket.on_disconnect(move |socket: SocketRef, reason: DisconnectReason| {
        let ctx = Arc::clone(&c);
        async move { on_disconnect(socket, ctx, reason) }
    });
    watch_confirmation(socket, ctx, peer);
    tracing::info!(peer = %peer_id, room = %room_id, "peer connected");
    Ok(())
}

/// How long socketioxide may take to confirm a connection this middleware
/// admitted; it does so at once unless the client is gone.
const CONFIRM_WITHIN: Duration = Duration::from_secs(2);

/// Closes `peer` if its connection is never confirmed. A client that goes
/// away while it is being admitted (its room opening on a worker, say) is
/// never confirmed, and socketioxide then runs no disconnect handler for
/// it: without this, the peer and its room would stay for good.
fn watch_confirmation(socket: SocketRef, ctx: Arc<Signaling>, peer: Arc<Peer>) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
        while !socket.connected() {
            if peer.state.lock().closed {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!(peer = %peer.id, "connection never confirmed; closing the peer");
                ctx.close_peer(&peer);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
