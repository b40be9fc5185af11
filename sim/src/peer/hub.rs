//! One UDP socket carrying many transports, and the task that drives them.
//!
//! A browser tab has a socket per transport; a sim process runs hundreds
//! of tabs, and a task per transport costs a wake-up, a `recvmmsg` and
//! a `sendmmsg` for every datagram or two, which is most of what it pays
//! beside str0m itself. So the transports of a thread share a hub: one
//! socket, one task. Each wake-up reads every datagram waiting for all of
//! them in a few calls, hands each to the driver of the server address it
//! came from, advances the drivers whose deadlines have come, and sends
//! what they all queued in one `sendmmsg` per 64 datagrams. Each
//! transport keeps its own ICE, DTLS and SRTP; only the client port is
//! shared, between transports to different server addresses (see `seat`).

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::driver::{Command, Driver};
use super::udp_batch::{RECV_SLOTS, RecvBatch, SendBatch, set_socket_option, stamp_arrivals};

/// Most datagrams read in one wake-up before the drivers' deadlines and
/// commands are looked at again.
const RECV_BATCH: usize = 256;
/// The receive buffer asked for a hub's socket. Root gets it; others get
/// what `net.core.rmem_max` allows, and the hub takes fewer transports.
const RECV_BUFFER: usize = 8 << 20;
/// Receive buffer per transport carried: a few hundred of its datagrams,
/// tens of milliseconds of a busy consumer's media.
const BUFFER_PER_TRANSPORT: usize = 128 << 10;
/// Most transports on one socket.
const MAX_TRANSPORTS: usize = 64;
/// How long an idle hub sleeps when no driver has a deadline.
const IDLE: Duration = Duration::from_secs(1);

/// The server addresses a hub's transports talk to (see `seat`).
pub type Remotes = Arc<Mutex<HashSet<SocketAddr>>>;

/// The set of `remotes`, however a holder of its lock ended.
pub fn lock(remotes: &Remotes) -> MutexGuard<'_, HashSet<SocketAddr>> {
    remotes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A server address held on a hub for one transport; dropping it frees
/// the address for another transport.
pub struct Reservation {
    remotes: Remotes,
    remote: SocketAddr,
}

impl Reservation {
    /// Holds `remote` in `remotes`.
    pub fn new(remotes: &Remotes, remote: SocketAddr) -> Self {
        lock(remotes).insert(remote);
        Reservation {
            remotes: Arc::clone(remotes),
            remote,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        lock(&self.remotes).remove(&self.remote);
    }
}

/// What a hub is told.
pub enum ToHub {
    /// Run this driver from now on, under this key.
    Start {
        /// The transport's key (see `seat`).
        key: u64,
        /// Its driver.
        driver: Box<Driver>,
        /// Its server address on this hub, held while it runs.
        reservation: Reservation,
    },
    /// A command for a driver.
    Command(u64, Command),
    /// Close a driver gracefully (its session ended).
    Close(u64),
    /// Drop a driver without a word (its peer was dropped).
    Drop(u64),
}

/// A driver the hub runs, with where it sits in the schedule.
struct Slot {
    /// Boxed: a driver is ~10 KB (str0m's `Rtc` inline), and the slots'
    /// table moves every entry each time it grows.
    driver: Box<Driver>,
    /// Freed with the slot.
    _reservation: Reservation,
    /// Its entry in `Hub::due`.
    due_at: Option<Instant>,
    /// Received datagrams in this wake-up: advance it afterwards.
    touched: bool,
}

/// One shared socket and the drivers it carries.
pub struct Hub {
    socket: UdpSocket,
    commands: UnboundedReceiver<ToHub>,
    slots: FxHashMap<u64, Slot>,
    /// Which driver a datagram from a server address is for.
    routes: FxHashMap<SocketAddr, u64>,
    /// Drivers by deadline.
    due: BTreeSet<(Instant, u64)>,
    touched: Vec<u64>,
    inbox: RecvBatch,
    outbox: SendBatch,
}

impl Hub {
    /// Binds a socket on every local address (IPv6 when `v6`) and starts
    /// the hub's task on the current runtime; returns its command sender,
    /// its port and how many transports it takes.
    pub fn spawn(v6: bool) -> io::Result<(UnboundedSender<ToHub>, u16, usize)> {
        let any: IpAddr = if v6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let socket = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
        socket.set_nonblocking(true)?;
        let capacity = capacity(grow_buffers(&socket));
        if let Err(e) = stamp_arrivals(&socket) {
            // Then a datagram's arrival is the time it was read.
            tracing::debug!("hub socket: no arrival stamps: {e}");
        }
        let socket = UdpSocket::from_std(socket)?;
        let port = socket.local_addr()?.port();
        let (tx, commands) = mpsc::unbounded_channel();
        let hub = Hub {
            socket,
            commands,
            slots: FxHashMap::default(),
            routes: FxHashMap::default(),
            due: BTreeSet::new(),
            touched: Vec::new(),
            inbox: RecvBatch::default(),
            outbox: SendBatch::default(),
        };
        tokio::spawn(hub.run());
        Ok((tx, port, capacity))
    }

    /// Runs until every sender is gone (the thread that started it ended),
    /// then closes what it still carries.
    async fn run(mut self) {
        let timer = tokio::time::sleep(IDLE);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            self.advance_due();
            self.flush();
            let deadline = self
                .due
                .first()
                .map_or_else(|| Instant::now() + IDLE, |&(at, _)| at);
            if armed != Some(deadline) {
                timer.as_mut().reset(deadline.into());
                armed = Some(deadline);
            }
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(c) => self.command(c),
                    None => break,
                },
                ready = self.socket.readable() => match ready {
                    Ok(()) => self.receive_waiting(),
                    Err(e) => {
                        tracing::debug!("hub socket: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                () = &mut timer => armed = None,
            }
        }
        let keys: Vec<u64> = self.slots.keys().copied().collect();
        for key in keys {
            self.close(key);
        }
        self.flush();
    }

    fn command(&mut self, command: ToHub) {
        match command {
            ToHub::Start {
                key,
                driver,
                reservation,
            } => {
                self.routes.insert(driver.endpoint().remote, key);
                let slot = Slot {
                    driver,
                    _reservation: reservation,
                    due_at: None,
                    touched: false,
                };
                self.slots.insert(key, slot);
                self.advance(key, Instant::now());
            }
            ToHub::Command(key, command) => {
                if let Some(slot) = self.slots.get_mut(&key) {
                    slot.driver.command(command);
                    self.advance(key, Instant::now());
                }
            }
            ToHub::Close(key) => self.close(key),
            ToHub::Drop(key) => self.remove(key),
        }
    }

    /// Reads the datagrams waiting (at most [`RECV_BATCH`]) into their
    /// drivers, then advances each driver that got any.
    fn receive_waiting(&mut self) {
        let mut inbox = std::mem::take(&mut self.inbox);
        let mut read = 0;
        while read < RECV_BATCH {
            let n = match inbox.recv(&self.socket) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!("hub udp recv: {e}");
                    break;
                }
            };
            // Every datagram of the batch arrived by now.
            let now = Instant::now();
            for i in 0..n {
                // Only the servers' addresses are known: anything else is
                // dropped unread.
                let Some(&key) = inbox.source(i).and_then(|from| self.routes.get(&from)) else {
                    continue;
                };
                let Some(slot) = self.slots.get_mut(&key) else {
                    continue;
                };
                if !slot.touched {
                    slot.touched = true;
                    self.touched.push(key);
                    slot.driver.catch_up(now);
                }
                // The time it arrived, not when it was read: a datagram
                // that waited out a rest is not reported late.
                let arrived = inbox.arrival(i);
                if !slot
                    .driver
                    .receive(arrived, inbox.datagram(i), &mut self.outbox)
                {
                    self.remove(key);
                }
            }
            read += n;
            if n < RECV_SLOTS {
                break;
            }
        }
        self.inbox = inbox;
        let now = Instant::now();
        for key in std::mem::take(&mut self.touched) {
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.touched = false;
                self.advance(key, now);
            }
        }
    }

    /// Advances every driver whose deadline has come.
    fn advance_due(&mut self) {
        let now = Instant::now();
        while let Some(&(at, key)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.due_at = None;
            }
            self.advance(key, now);
        }
    }

    /// Advances one driver and files its next deadline, or removes it once
    /// it is finished.
    fn advance(&mut self, key: u64, now: Instant) {
        let Some(slot) = self.slots.get_mut(&key) else {
            return;
        };
        match slot.driver.advance(now, &mut self.outbox) {
            Some(at) => {
                if slot.due_at != Some(at) {
                    if let Some(old) = slot.due_at.replace(at) {
                        self.due.remove(&(old, key));
                    }
                    self.due.insert((at, key));
                }
            }
            None => self.remove(key),
        }
    }

    fn close(&mut self, key: u64) {
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.driver.close(&mut self.outbox);
            self.remove(key);
        }
    }

    /// Forgets a driver; dropping its slot frees its server address.
    fn remove(&mut self, key: u64) {
        if let Some(slot) = self.slots.remove(&key) {
            self.routes.remove(&slot.driver.endpoint().remote);
            if let Some(at) = slot.due_at {
                self.due.remove(&(at, key));
            }
        }
    }

    fn flush(&mut self) {
        if !self.outbox.is_empty() {
            self.outbox.flush(&self.socket);
        }
    }
}

/// Asks for [`RECV_BUFFER`] bytes of receive and send buffer (beyond
/// `rmem_max` when privileged); returns the receive buffer obtained.
fn grow_buffers(socket: &std::net::UdpSocket) -> usize {
    let fd = socket.as_raw_fd();
    let size = RECV_BUFFER as libc::c_int;
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if set_socket_option(fd, forced, size).is_err() {
            let _ = set_socket_option(fd, plain, size);
        }
    }
    let mut got: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `got` and `len` are valid for writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_mut(&mut got).cast(),
            &mut len,
        )
    };
    if rc == 0 { got.max(0) as usize } else { 0 }
}

/// How many transports a socket with `buffer` bytes of receive buffer
/// takes: [`BUFFER_PER_TRANSPORT`] each, at least one, at most
/// [`MAX_TRANSPORTS`].
fn capacity(buffer: usize) -> usize {
    (buffer / BUFFER_PER_TRANSPORT).clamp(1, MAX_TRANSPORTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_the_receive_buffer() {
        assert_eq!(capacity(0), 1);
        // Linux's default (212,992 bytes, doubled when read back).
        assert_eq!(capacity(425_984), 3);
        assert_eq!(capacity(2 * RECV_BUFFER), MAX_TRANSPORTS);
    }

    #[test]
    fn a_slot_is_small_whatever_a_driver_weighs() {
        // The slots' table moves every entry each time it grows: a driver
        // inline (~10 KB) made each growth a fresh multi-megabyte block.
        assert!(std::mem::size_of::<Driver>() > 1024);
        assert!(
            std::mem::size_of::<Slot>() <= 128,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[tokio::test]
    async fn a_hub_socket_gets_a_buffer_for_its_transports() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let got = grow_buffers(&socket);
        // At least the kernel's default; the full size when privileged.
        assert!(got >= 200_000, "{got}");
    }
}
