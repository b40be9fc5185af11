//! Several datagrams to or from one UDP socket in one system call
//! (`sendmmsg`, `recvmmsg`). A hub's socket carries many transports, so a
//! wake-up finds datagrams from several of them waiting and produces
//! datagrams for several; a call per datagram (plus one more to learn
//! that the socket is empty) would be a large part of what a peer costs.
//! Every datagram carries its address: the socket is not connected.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Most datagrams handed to the kernel in one call.
const MAX_BATCH: usize = 64;
/// Datagrams read in one call.
pub const RECV_SLOTS: usize = 32;
/// Room for one received datagram: more than the path MTU, so that a
/// longer datagram (none is expected) shows as truncated and is dropped.
const SLOT: usize = 2048;

/// Room for one datagram's control messages: its arrival time (a
/// `timespec`), with slack for one more the kernel may add.
const CONTROL: usize = 64;
/// The oldest arrival believed: a stamp further back means the wall
/// clock stepped, and the time of the read is used instead.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Buffers for [`RecvBatch::recv`]; allocated at the first read.
#[derive(Default)]
pub struct RecvBatch {
    data: Vec<u8>,
    lens: [usize; RECV_SLOTS],
    sources: Vec<Option<SocketAddr>>,
    /// Per slot, `cmsghdr`-aligned room for control messages.
    control: Vec<[u64; CONTROL / 8]>,
    arrivals: Vec<Instant>,
}

/// Asks the kernel to stamp each datagram `socket` receives with the time
/// it arrived (`SO_TIMESTAMPNS`), read back by [`RecvBatch::arrival`]: a
/// datagram read a while after it arrived (the peers' runtime rests
/// between wake-ups) still reports when it arrived.
pub fn stamp_arrivals(socket: &std::net::UdpSocket) -> io::Result<()> {
    set_socket_option(socket.as_raw_fd(), libc::SO_TIMESTAMPNS, 1)
}

/// Sets the integer socket option `option` (level `SOL_SOCKET`) of `fd`.
pub fn set_socket_option(
    fd: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a c_int, as the option expects, valid for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            std::ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl RecvBatch {
    /// Reads the datagrams waiting on `socket`, at most
    /// [`RECV_SLOTS`], in one `recvmmsg`; returns how many (0: none was
    /// waiting). Fewer than the slots means the socket is empty, and tokio
    /// is told so, so that the next wait is for new data without another
    /// system call to find out.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        if self.data.is_empty() {
            self.data = vec![0; RECV_SLOTS * SLOT];
            self.control = vec![[0; CONTROL / 8]; RECV_SLOTS];
        }
        // SAFETY: an all-zero sockaddr_storage is valid (family unspec).
        let mut names: [libc::sockaddr_storage; RECV_SLOTS] = unsafe { std::mem::zeroed() };
        let mut iovecs: [libc::iovec; RECV_SLOTS] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.data[i * SLOT..].as_mut_ptr().cast(),
            iov_len: SLOT,
        });
        // SAFETY: an all-zero mmsghdr is valid (no name, no control).
        let mut headers: [libc::mmsghdr; RECV_SLOTS] = unsafe { std::mem::zeroed() };
        let slots = headers.iter_mut().zip(iovecs.iter_mut()).zip(&mut names);
        for (((hdr, iov), name), control) in slots.zip(&mut self.control) {
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_hdr.msg_controllen = CONTROL;
        }
        let fd = socket.as_raw_fd();
        let mut got = 0;
        let result = socket.try_io(Interest::READABLE, || {
            // SAFETY: each header points at its own iovec and name, each
            // iovec at its own SLOT bytes of `data`; all outlive the call.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    headers.as_mut_ptr(),
                    RECV_SLOTS as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            got = n as usize;
            if got < RECV_SLOTS {
                // Drained: let tokio clear the readiness.
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        let (read_at, wall) = (Instant::now(), SystemTime::now());
        self.sources.clear();
        self.arrivals.clear();
        for ((len, hdr), name) in self.lens.iter_mut().zip(&headers).zip(&names).take(got) {
            let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            *len = if truncated { 0 } else { hdr.msg_len as usize };
            self.sources.push(from_raw(name, hdr.msg_hdr.msg_namelen));
            self.arrivals
                .push(arrived_at(read_at, wall, stamp(&hdr.msg_hdr)));
        }
        match result {
            Err(e) if got == 0 && e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(got),
        }
    }

    /// The `i`th datagram of the last [`RecvBatch::recv`] (empty if it was
    /// truncated).
    pub fn datagram(&self, i: usize) -> &[u8] {
        &self.data[i * SLOT..i * SLOT + self.lens[i]]
    }

    /// Who sent the `i`th datagram of the last [`RecvBatch::recv`].
    pub fn source(&self, i: usize) -> Option<SocketAddr> {
        self.sources.get(i).copied().flatten()
    }

    /// When the `i`th datagram of the last [`RecvBatch::recv`] arrived, if
    /// the socket stamps arrivals (see [`stamp_arrivals`]); otherwise when
    /// it was read.
    pub fn arrival(&self, i: usize) -> Instant {
        self.arrivals[i]
    }
}

/// The arrival, on the monotonic clock, of a datagram read at `read_at`
/// (`wall` on the wall clock) and stamped `stamp` (wall clock) by the
/// kernel; the time of the read if unstamped, or if the stamp is in the
/// future or more than [`MAX_AGE`] old (the wall clock stepped).
fn arrived_at(read_at: Instant, wall: SystemTime, stamp: Option<SystemTime>) -> Instant {
    stamp
        .and_then(|t| wall.duration_since(t).ok())
        .filter(|age| *age <= MAX_AGE)
        .and_then(|age| read_at.checked_sub(age))
        .unwrap_or(read_at)
}

/// The arrival stamp (`SCM_TIMESTAMPNS`) among a received message's
/// control messages.
fn stamp(msg: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: `msg` was filled by `recvmmsg`, whose control buffer and
    // length describe the control messages it wrote; the macros only walk
    // within them, and the stamp is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                let since_epoch = Duration::new(
                    u64::try_from(ts.tv_sec).ok()?,
                    u32::try_from(ts.tv_nsec).ok()?,
                );
                return SystemTime::UNIX_EPOCH.checked_add(since_epoch);
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// Datagrams waiting for the next [`SendBatch::flush`], each with its
/// destination.
#[derive(Debug, Default)]
pub struct SendBatch {
    queued: Vec<(SocketAddr, Vec<u8>)>,
}

impl SendBatch {
    /// Queues a datagram for `destination`.
    pub fn push(&mut self, destination: SocketAddr, datagram: Vec<u8>) {
        self.queued.push((destination, datagram));
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends every queued datagram on `socket`; returns how
    /// many the kernel took. What it refuses (a full buffer) is dropped, as
    /// a congested network would; the queue is empty afterwards.
    pub fn flush(&mut self, socket: &UdpSocket) -> usize {
        let mut sent = 0;
        for chunk in self.queued.chunks(MAX_BATCH) {
            let mut offset = 0;
            while offset < chunk.len() {
                match send_many(socket, &chunk[offset..]) {
                    Ok(0) | Err(_) => {
                        // Skip the datagram the kernel refused and go on.
                        offset += 1;
                    }
                    Ok(n) => {
                        offset += n;
                        sent += n;
                    }
                }
            }
        }
        self.queued.clear();
        sent
    }
}

/// One `sendmmsg` of `datagrams` (at most [`MAX_BATCH`]) on `socket`;
/// how many were sent.
fn send_many(socket: &UdpSocket, datagrams: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    let mut names: Vec<(libc::sockaddr_storage, libc::socklen_t)> =
        datagrams.iter().map(|(to, _)| to_raw(to)).collect();
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|(_, d)| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .zip(&mut names)
        .map(|(iov, (name, len))| {
            // SAFETY: an all-zero msghdr is valid (no name, no control).
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
            hdr.msg_hdr.msg_namelen = *len;
            hdr
        })
        .collect();
    // Straight to the kernel, not through tokio's readiness: nothing ever
    // waits for this socket to become writable (a full buffer drops), and
    // a socket tokio has not polled yet would refuse to try.
    // SAFETY: `headers` points at `iovecs` and `names`, the iovecs at the
    // datagrams; all outlive the call, and the lengths are theirs.
    let n = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            headers.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `addr` as the kernel takes it.
fn to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // every sockaddr type.
            unsafe { std::ptr::write(std::ptr::from_mut(&mut storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(std::ptr::from_mut(&mut storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The address the kernel wrote into `storage`, if it is IPv4 or IPv6.
fn from_raw(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // the storage is aligned for it.
            let sin: &libc::sockaddr_in = unsafe { &*std::ptr::from_ref(storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*std::ptr::from_ref(storage).cast() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(
                SocketAddrV6::new(
                    ip,
                    port,
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_round_trip_through_the_kernels_form() {
        for addr in [
            "127.0.0.1:40000",
            "10.1.2.3:1",
            "[::1]:5000",
            "[fe80::1%7]:65535",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let (raw, len) = to_raw(&addr);
            assert_eq!(from_raw(&raw, len), Some(addr));
            assert_eq!(from_raw(&raw, len - 1), None, "a short name is refused");
        }
    }

    #[tokio::test]
    async fn sends_every_datagram_in_order_to_its_own_destination() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut batch = SendBatch::default();
        for i in 0..100u8 {
            let to = if i % 3 == 0 { to_b } else { to_a };
            batch.push(to, vec![i; 1 + usize::from(i)]);
        }
        assert_eq!(batch.queued.len(), 100);
        assert_eq!(batch.flush(&tx), 100);
        assert!(batch.is_empty());
        let mut buf = [0u8; 512];
        for i in 0..100u8 {
            let rx = if i % 3 == 0 { &b } else { &a };
            let (n, from) = rx.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(&buf[..n], &vec![i; 1 + usize::from(i)][..]);
        }
    }

    #[test]
    fn arrivals_come_from_the_stamp_unless_the_clock_stepped() {
        let read_at = Instant::now();
        let wall = SystemTime::now();
        let ms = Duration::from_millis;
        assert_eq!(
            arrived_at(read_at, wall, Some(wall - ms(7))),
            read_at - ms(7)
        );
        assert_eq!(arrived_at(read_at, wall, None), read_at);
        assert_eq!(arrived_at(read_at, wall, Some(wall + ms(7))), read_at);
        assert_eq!(arrived_at(read_at, wall, Some(wall - ms(1_001))), read_at);
    }

    /// Waits (a bounded while) until `rx`'s datagrams are stamped on
    /// arrival. The first socket of the machine to ask for stamps turns
    /// them on in the kernel from a work queue, after `setsockopt` has
    /// returned; until then a datagram is stamped when it is read.
    async fn stamps_live(rx: &UdpSocket, tx: &UdpSocket) {
        let mut inbox = RecvBatch::default();
        for _ in 0..50 {
            tx.send_to(b"warm", rx.local_addr().unwrap()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            rx.readable().await.unwrap();
            let before_read = Instant::now();
            if matches!(inbox.recv(rx), Ok(1))
                && inbox.arrival(0) + Duration::from_millis(2) < before_read
            {
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_stamped_socket_reports_when_a_datagram_arrived_not_when_it_was_read() {
        let std_rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std_rx.set_nonblocking(true).unwrap();
        stamp_arrivals(&std_rx).unwrap();
        let rx = UdpSocket::from_std(std_rx).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stamps_live(&rx, &tx).await;
        let sent = Instant::now();
        tx.send_to(b"early", rx.local_addr().unwrap())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut inbox = RecvBatch::default();
        rx.readable().await.unwrap();
        let before_read = Instant::now();
        assert_eq!(inbox.recv(&rx).unwrap(), 1);
        let arrived = inbox.arrival(0);
        assert!(
            arrived >= sent - Duration::from_millis(5),
            "{:?}",
            sent - arrived
        );
        assert!(
            arrived + Duration::from_millis(20) < before_read,
            "arrival {:?} before the read, not the read's time",
            before_read - arrived
        );
    }

    #[tokio::test]
    async fn receives_in_batches_until_empty_with_each_sender() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tx.connect(rx.local_addr().unwrap()).await.unwrap();
        let mut inbox = RecvBatch::default();
        // Nothing waiting: zero, not an error.
        assert_eq!(inbox.recv(&rx).unwrap(), 0);
        let count = RECV_SLOTS * 2 + 3;
        for i in 0..count {
            if i == 5 {
                other
                    .send_to(&[i as u8; 100], rx.local_addr().unwrap())
                    .await
                    .unwrap();
            } else {
                tx.send(&[i as u8; 100]).await.unwrap();
            }
        }
        // A datagram longer than a slot is dropped, not cut.
        tx.send(&vec![7u8; SLOT + 1]).await.unwrap();
        let mut seen = Vec::new();
        let mut batches = 0;
        while seen.len() < count + 1 {
            rx.readable().await.unwrap();
            let n = inbox.recv(&rx).unwrap();
            assert!(n <= RECV_SLOTS);
            batches += usize::from(n > 0);
            for i in 0..n {
                seen.push((inbox.datagram(i).to_vec(), inbox.source(i).unwrap()));
            }
        }
        assert!(batches <= 4, "{batches} calls for {} datagrams", count + 1);
        for (i, (d, from)) in seen.iter().take(count).enumerate() {
            assert_eq!(d, &vec![i as u8; 100]);
            let sender = if i == 5 { &other } else { &tx };
            assert_eq!(*from, sender.local_addr().unwrap());
        }
        assert!(seen[count].0.is_empty(), "truncated datagram dropped");
    }
}
