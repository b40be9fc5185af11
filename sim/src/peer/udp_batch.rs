//! Several datagrams to or from one connected UDP socket's peer in one
//! system call (`sendmmsg`, `recvmmsg`): a transport's wake-up usually
//! produces a few packets (a video frame, its audio, some RTCP) and finds
//! a few waiting, and a call per packet (plus one more to learn that the
//! socket is empty) is a large part of what a peer costs.

use std::io;
use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Most datagrams handed to the kernel in one call.
const MAX_BATCH: usize = 64;
/// Datagrams read in one call.
pub const RECV_SLOTS: usize = 8;
/// Room for one received datagram: more than the path MTU, so that a
/// longer datagram (none is expected) shows as truncated and is dropped.
const SLOT: usize = 2048;

/// Buffers for [`RecvBatch::recv`]; allocated at the first read.
#[derive(Debug, Default)]
pub struct RecvBatch {
    data: Vec<u8>,
    lens: [usize; RECV_SLOTS],
}

impl RecvBatch {
    /// Reads the datagrams waiting on the connected `socket`, at most
    /// [`RECV_SLOTS`], in one `recvmmsg`; returns how many (0: none was
    /// waiting). Fewer than the slots means the socket is empty, and tokio
    /// is told so, so that the next wait is for new data without another
    /// system call to find out.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        if self.data.is_empty() {
            self.data = vec![0; RECV_SLOTS * SLOT];
        }
        let mut iovecs: [libc::iovec; RECV_SLOTS] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.data[i * SLOT..].as_mut_ptr().cast(),
            iov_len: SLOT,
        });
        // SAFETY: an all-zero mmsghdr is valid (no name, no control).
        let mut headers: [libc::mmsghdr; RECV_SLOTS] = unsafe { std::mem::zeroed() };
        for (hdr, iov) in headers.iter_mut().zip(iovecs.iter_mut()) {
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
        }
        let fd = socket.as_raw_fd();
        let mut got = 0;
        let result = socket.try_io(Interest::READABLE, || {
            // SAFETY: each header points at its own iovec, each iovec at
            // its own SLOT bytes of `data`; all outlive the call.
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
        for (len, hdr) in self.lens.iter_mut().zip(&headers).take(got) {
            let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            *len = if truncated { 0 } else { hdr.msg_len as usize };
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
}

/// Datagrams waiting for the next [`SendBatch::flush`].
#[derive(Debug, Default)]
pub struct SendBatch {
    queued: Vec<Vec<u8>>,
}

impl SendBatch {
    /// Queues a datagram for the socket's connected peer.
    pub fn push(&mut self, datagram: Vec<u8>) {
        self.queued.push(datagram);
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends every queued datagram on `socket` (connected); returns how
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

/// One `sendmmsg` of `datagrams` (at most [`MAX_BATCH`]) on the connected
/// `socket`; how many were sent.
fn send_many(socket: &UdpSocket, datagrams: &[Vec<u8>]) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|d| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero msghdr is valid (no name, no control).
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr
        })
        .collect();
    // Straight to the kernel, not through tokio's readiness: nothing ever
    // waits for this socket to become writable (a full buffer drops), and
    // a socket tokio has not polled yet would refuse to try.
    // SAFETY: `headers` points at `iovecs`, which point at the datagrams;
    // all outlive the call, and the lengths are theirs. The socket is
    // connected, so no address is needed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sends_every_datagram_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tx.connect(rx.local_addr().unwrap()).await.unwrap();
        let mut batch = SendBatch::default();
        for i in 0..100u8 {
            batch.push(vec![i; 1 + usize::from(i)]);
        }
        assert_eq!(batch.queued.len(), 100);
        assert_eq!(batch.flush(&tx), 100);
        assert!(batch.is_empty());
        let mut buf = [0u8; 512];
        for i in 0..100u8 {
            let (n, from) = rx.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(&buf[..n], &vec![i; 1 + usize::from(i)][..]);
        }
    }

    #[tokio::test]
    async fn receives_in_batches_until_empty() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tx.connect(rx.local_addr().unwrap()).await.unwrap();
        rx.connect(tx.local_addr().unwrap()).await.unwrap();
        let mut inbox = RecvBatch::default();
        // Nothing waiting: zero, not an error.
        assert_eq!(inbox.recv(&rx).unwrap(), 0);
        let count = RECV_SLOTS * 2 + 3;
        for i in 0..count {
            tx.send(&[i as u8; 100]).await.unwrap();
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
                seen.push(inbox.datagram(i).to_vec());
            }
        }
        assert!(batches <= 4, "{batches} calls for {} datagrams", count + 1);
        for (i, d) in seen.iter().take(count).enumerate() {
            assert_eq!(d, &vec![i as u8; 100]);
        }
        assert!(seen[count].is_empty(), "truncated datagram dropped");
    }
}
