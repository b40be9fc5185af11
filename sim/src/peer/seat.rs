//! Which hub, and so which UDP socket, carries a transport.
//!
//! A thread keeps the hubs it started (see `hub`). A new transport takes a
//! seat on the first hub of its address family that has room and does not
//! already carry a transport to the same server address: datagrams are
//! told apart by their source alone, so two transports to one address (a
//! server with a WebRtcServer, one port per worker) need two sockets. When
//! no hub fits, a new one starts on the current runtime.
//!
//! Hubs live as long as the runtime that runs them; a hub whose runtime is
//! gone (its channel closed) is forgotten at the next seat taken.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::UnboundedSender;

use super::driver::{Command, Driver};
use super::hub::{Hub, Remotes, Reservation, ToHub, lock};

/// A running hub, as the thread that started it knows it.
#[derive(Clone)]
struct HubHandle {
    to_hub: UnboundedSender<ToHub>,
    remotes: Remotes,
    /// Its socket's port.
    port: u16,
    v6: bool,
    /// The most transports it takes (see `hub::capacity`).
    capacity: usize,
}

impl HubHandle {
    /// Whether a transport to `remote` can sit on it.
    fn fits(&self, remote: SocketAddr) -> bool {
        let taken = lock(&self.remotes);
        self.v6 == remote.is_ipv6() && taken.len() < self.capacity && !taken.contains(&remote)
    }
}

thread_local! {
    static HUBS: RefCell<Vec<HubHandle>> = const { RefCell::new(Vec::new()) };
}

/// Transport keys, unique in the process.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A transport's place on a hub: the server address it holds there, and
/// the local address str0m announces. Dropping it before
/// [`Seat::start`] frees the address.
pub struct Seat {
    to_hub: UnboundedSender<ToHub>,
    reservation: Reservation,
    local: SocketAddr,
    key: u64,
}

impl Seat {
    /// Takes a seat for a transport to `remote`, starting a hub if none
    /// fits. Must run inside a tokio runtime with the net and time drivers.
    pub fn take(remote: SocketAddr) -> io::Result<Seat> {
        let hub = HUBS.with_borrow_mut(|hubs| -> io::Result<HubHandle> {
            hubs.retain(|h| !h.to_hub.is_closed());
            if let Some(h) = hubs.iter().find(|h| h.fits(remote)) {
                return Ok(h.clone());
            }
            let h = start_hub(remote.is_ipv6())?;
            hubs.push(h.clone());
            Ok(h)
        })?;
        let reservation = Reservation::new(&hub.remotes, remote);
        let local = SocketAddr::new(source_ip(remote)?, hub.port);
        Ok(Seat {
            to_hub: hub.to_hub,
            reservation,
            local,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The host candidate: the address the server sees our datagrams from.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Hands `driver`, the transport sitting here, to the hub, which runs
    /// it from now on; the link sends it the session's commands.
    pub fn start(self, driver: Driver) -> Link {
        let link = Link {
            to_hub: self.to_hub,
            key: self.key,
        };
        // A closed hub (its runtime is shutting down) drops the driver, and
        // with it the transport: nothing would carry it anyway.
        let _ = link.to_hub.send(ToHub::Start {
            key: self.key,
            driver: Box::new(driver),
            reservation: self.reservation,
        });
        link
    }
}

/// The session's hold on a running transport: its commands go through
/// it, and dropping it closes the transport the way a browser leaving
/// does (RTCP BYE, DTLS close_notify).
pub struct Link {
    to_hub: UnboundedSender<ToHub>,
    key: u64,
}

impl Link {
    /// Sends the transport a command; false if its hub is gone.
    pub fn send(&self, command: Command) -> bool {
        self.to_hub.send(ToHub::Command(self.key, command)).is_ok()
    }

    /// Something that ends the transport at once, without goodbyes, like
    /// a crashed tab (for [`Peer`](super::Peer)'s drop).
    pub fn stopper(&self) -> Stopper {
        Stopper {
            to_hub: self.to_hub.clone(),
            key: self.key,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.to_hub.send(ToHub::Close(self.key));
    }
}

/// Ends a transport at once when asked (see [`Link::stopper`]).
pub struct Stopper {
    to_hub: UnboundedSender<ToHub>,
    key: u64,
}

impl Stopper {
    /// Removes the transport from its hub, sending nothing more.
    pub fn stop(&self) {
        let _ = self.to_hub.send(ToHub::Drop(self.key));
    }
}

fn start_hub(v6: bool) -> io::Result<HubHandle> {
    let remotes = Remotes::default();
    let (to_hub, port, capacity) = Hub::spawn(v6)?;
    Ok(HubHandle {
        to_hub,
        remotes,
        port,
        v6,
        capacity,
    })
}

/// The local address the kernel sends from towards `remote` (127.0.0.1
/// for a server on loopback): learnt by connecting a throwaway socket,
/// which sends nothing.
fn source_ip(remote: SocketAddr) -> io::Result<IpAddr> {
    let any: IpAddr = if remote.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let probe = UdpSocket::bind(SocketAddr::new(any, 0))?;
    probe.connect(remote)?;
    Ok(probe.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
    }

    #[tokio::test]
    async fn transports_share_a_socket_unless_their_server_address_is_taken() {
        let a = Seat::take(addr(40_000)).unwrap();
        let b = Seat::take(addr(40_001)).unwrap();
        assert_eq!(a.local(), b.local(), "two servers: one socket");
        assert_eq!(a.local().ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
        assert_ne!(a.key, b.key);
        // One server address twice (a WebRtcServer): a second socket.
        let c = Seat::take(addr(40_000)).unwrap();
        assert_ne!(c.local(), a.local());
        // Freed, the address can sit on the first socket again.
        drop(a);
        let d = Seat::take(addr(40_000)).unwrap();
        assert_eq!(d.local(), b.local());
    }

    #[tokio::test]
    async fn a_full_hub_makes_way_for_another() {
        let first = Seat::take(addr(41_000)).unwrap();
        let capacity = HUBS.with_borrow(|h| h[0].capacity);
        let mut seats: Vec<Seat> = (1..capacity as u16)
            .map(|i| Seat::take(addr(41_000 + i)).unwrap())
            .collect();
        assert!(seats.iter().all(|s| s.local() == first.local()));
        let extra = Seat::take(addr(42_000)).unwrap();
        assert_ne!(extra.local(), first.local(), "the first hub is full");
        seats.pop();
        let again = Seat::take(addr(42_001)).unwrap();
        assert_eq!(again.local(), first.local(), "a freed seat is taken again");
    }
}
