//! Connection caps of one listener: overall and per client address. A
//! connection holds a [`Slot`] for as long as its socket lives (a websocket
//! included, long after its HTTP upgrade), and gives it back when dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ejtimaa_systems::export::Limit;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::signaling::RefusalTally;

/// How often at most a listener logs that it refuses connections: a flood
/// of them must not become a flood of log lines.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The caps and what they have let in.
pub(super) struct Caps {
    what: &'static str,
    max: usize,
    max_per_client: usize,
    /// The limits a refusal is counted as: (overall, per client).
    limits: (Limit, Limit),
    refusals: Arc<RefusalTally>,
    open: Mutex<Open>,
    log: Mutex<RefusalLog>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl Caps {
    /// Caps of the listener `what`, counting refusals as `limits` in `refusals`.
    pub(super) fn new(
        what: &'static str,
        max: usize,
        max_per_client: usize,
        limits: (Limit, Limit),
        refusals: Arc<RefusalTally>,
    ) -> Arc<Self> {
        Arc::new(Self {
            what,
            max,
            max_per_client,
            limits,
            refusals,
            open: Mutex::new(Open::default()),
            log: Mutex::new(RefusalLog::default()),
        })
    }

    /// A slot for a connection from `ip`, or the limit that refuses it
    /// (counted, and logged now and then).
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Limit> {
        let client = client_of(ip);
        let refused = {
            let mut open = self.open.lock();
            let from_client = open.by_client.get(&client).copied().unwrap_or(0);
            if from_client >= self.max_per_client {
                Some(self.limits.1)
            } else if open.total >= self.max {
                Some(self.limits.0)
            } else {
                open.total += 1;
                *open.by_client.entry(client).or_insert(0) += 1;
                None
            }
        };
        match refused {
            None => Ok(Slot {
                caps: Arc::clone(self),
                client,
            }),
            Some(limit) => {
                self.refusals.count(limit);
                self.log_refusal(limit);
                Err(limit)
            }
        }
    }

    fn log_refusal(&self, limit: Limit) {
        let mut log = self.log.lock();
        log.unlogged += 1;
        if log.last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            tracing::debug!(
                listener = self.what,
                refused = log.unlogged,
                "connections refused, the latest by {}",
                limit.as_str()
            );
            log.last = Some(Instant::now());
            log.unlogged = 0;
        }
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.lock().total
    }
}

/// The address a per-client cap counts: IPv4 as is, IPv6 by its /64 (one
/// subscriber's usual share, so a host cannot dodge the cap by changing
/// addresses within it).
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// One admitted connection's place under the caps, given back on drop.
pub(super) struct Slot {
    caps: Arc<Caps>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.caps.open.lock();
        open.total -= 1;
        if let Some(n) = open.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

/// A socket carrying its [`Slot`], so the slot lives exactly as long as the
/// socket, wherever it goes (TLS, hyper, an upgraded websocket).
pub(super) struct Counted<T> {
    io: T,
    _slot: Slot,
}

impl<T> Counted<T> {
    pub(super) fn new(io: T, slot: Slot) -> Self {
        Self { io, _slot: slot }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max: usize, per_client: usize) -> (Arc<Caps>, Arc<RefusalTally>) {
        let tally = Arc::new(RefusalTally::default());
        let caps = Caps::new(
            "test",
            max,
            per_client,
            (Limit::Connections, Limit::ConnectionsPerIp),
            Arc::clone(&tally),
        );
        (caps, tally)
    }

    #[test]
    fn per_client_then_overall_and_slots_come_back() {
        let (caps, tally) = caps(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert_eq!(caps.admit(a).err(), Some(Limit::ConnectionsPerIp));
        let _b1 = caps.admit(b).unwrap();
        assert_eq!(caps.admit(b).err(), Some(Limit::Connections));
        drop(a1);
        assert_eq!(caps.open(), 2);
        let _b2 = caps.admit(b).unwrap();
        let counts = tally.snapshot();
        assert_eq!(counts.get(Limit::ConnectionsPerIp), 1);
        assert_eq!(counts.get(Limit::Connections), 1);
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let (caps, _) = caps(10, 1);
        let _x = caps.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(caps.admit("2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        let _y = caps.admit("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let _z = caps.admit("198.51.100.7".parse().unwrap()).unwrap();
        assert!(caps.admit("::ffff:198.51.100.7".parse().unwrap()).is_err());
    }
}
