//! TCP that can be cancelled, for both transports (the HTTP client and the SMTP session).
//!
//! - [`connect`] tries each address with an equal share of the connect deadline and looks at the
//!   cancel flag about once a second (std offers no interruptible connect).
//! - The connected socket is non-blocking and every read and write goes through [`when_ready`]:
//!   one attempt; if it would block, a readiness wait on the socket (`poll(2)` through rustix on
//!   Unix, `WSAPoll` on Windows) for at most [`crate::cancel::POLL`] or what is left of the
//!   deadline, then the cancel flag, then the next attempt. A blocking call with a short timeout
//!   would be simpler, but on Windows a send or receive that times out leaves the socket
//!   indeterminate (Winsock gives no guarantee how much was sent or received) and must not be
//!   retried; a non-blocking call either makes progress or reports `WouldBlock` having done
//!   nothing. The readiness wait returns as soon as the socket is ready, so a reply is seen when
//!   it arrives, and the cancel flag is still looked at every `cancel::POLL`.
//! - Under TLS (rustls over the non-blocking socket) what to wait for is rustls's business: with
//!   records still to send it writes first, whatever the caller asked for, so a read can block on
//!   the socket being writable (see [`Pollable`]).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::cancel;

/// Why a wait gave up.
#[derive(Debug)]
pub(crate) enum Waited {
    Cancelled,
    TimedOut,
    Failed(io::Error),
}

/// What an attempt that would block waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Readable,
    Writable,
}

/// Something over a non-blocking socket that [`when_ready`] can wait on.
pub(crate) trait Pollable {
    /// The socket, and what to wait for after an attempt of an operation that needs `asked`
    /// (a read: `Readable`, a write or flush: `Writable`) ended in `WouldBlock`. A plain socket
    /// waits for `asked`; TLS for what its connection is stuck on.
    fn wait_on(&self, asked: Interest) -> (&TcpStream, Interest);
}

impl Pollable for TcpStream {
    fn wait_on(&self, asked: Interest) -> (&TcpStream, Interest) {
        (self, asked)
    }
}

/// A non-blocking connection to the first of `addrs` that answers by `deadline`. Each address
/// gets an equal share of what is left, so a black-holed first address (broken IPv6 is common)
/// leaves time for the next one.
pub(crate) fn connect(
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
    cancelled: &dyn Fn() -> bool,
) -> Result<TcpStream, Waited> {
    let mut last = Waited::Failed(io::Error::new(io::ErrorKind::NotFound, "no address to connect to"));
    for (i, addr) in addrs.iter().enumerate() {
        let share = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            Instant::now() + left / (addrs.len() - i) as u32
        });
        match connect_one(*addr, share, cancelled) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(Waited::Failed)?;
                stream.set_nonblocking(true).map_err(Waited::Failed)?;
                return Ok(stream);
            }
            Err(Waited::Cancelled) => return Err(Waited::Cancelled),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects to `addr` by `deadline`. Each attempt is a `connect_timeout` of one slice; a slice
/// that runs out simply starts a new attempt (as a lost SYN would be retransmitted). Slices grow
/// by half a second per attempt so that links slower than one second still connect.
fn connect_one(addr: SocketAddr, deadline: Option<Instant>, cancelled: &dyn Fn() -> bool) -> Result<TcpStream, Waited> {
    let mut slice = Duration::from_millis(1000);
    loop {
        if cancelled() {
            return Err(Waited::Cancelled);
        }
        let attempt = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Waited::TimedOut);
                }
                left.min(slice)
            }
            None => slice,
        };
        match TcpStream::connect_timeout(&addr, attempt) {
            Ok(s) => return Ok(s),
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                slice += Duration::from_millis(500);
            }
            Err(e) => return Err(Waited::Failed(e)),
        }
    }
}

/// Runs the non-blocking socket operation `op` on `io` until it makes progress, `deadline`
/// passes or `cancelled()` says so; between attempts it waits until the socket is ready as
/// [`Pollable::wait_on`] says (`asked`: what `op` needs), for at most [`cancel::POLL`].
pub(crate) fn when_ready<S: Pollable + ?Sized, T>(
    io: &mut S,
    asked: Interest,
    deadline: Option<Instant>,
    cancelled: impl Fn() -> bool,
    mut op: impl FnMut(&mut S) -> io::Result<T>,
) -> Result<T, Waited> {
    loop {
        if cancelled() {
            return Err(Waited::Cancelled);
        }
        match op(io) {
            Ok(v) => return Ok(v),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(Waited::Failed(e)),
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(Waited::TimedOut);
        }
        let (socket, interest) = io.wait_on(asked);
        match wait(socket, interest, left.map_or(cancel::POLL, |l| l.min(cancel::POLL))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Waited::Failed(e)),
        }
    }
}

/// Waits until `socket` is ready for `interest`, has an error or hang-up to report (the next
/// attempt reports it), or `timeout` (rounded up to whole milliseconds) passes.
#[cfg(unix)]
fn wait(socket: &TcpStream, interest: Interest, timeout: Duration) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let events = match interest {
        Interest::Readable => PollFlags::IN,
        Interest::Writable => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(socket, events)];
    let timeout =
        Timespec::try_from(round_up_to_ms(timeout)).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    poll(&mut fds, Some(&timeout))?;
    Ok(())
}

/// Waits until `socket` is ready for `interest`, has an error or hang-up to report (the next
/// attempt reports it), or `timeout` (rounded up to whole milliseconds) passes.
#[cfg(windows)]
fn wait(socket: &TcpStream, interest: Interest, timeout: Duration) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{
        WSAGetLastError, WSAPoll, POLLRDNORM, POLLWRNORM, SOCKET_ERROR, WSAPOLLFD,
    };
    let events = match interest {
        Interest::Readable => POLLRDNORM,
        Interest::Writable => POLLWRNORM,
    };
    let mut fd = WSAPOLLFD {
        fd: socket.as_raw_socket() as usize,
        events,
        revents: 0,
    };
    let ms = i32::try_from(round_up_to_ms(timeout).as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `fd` is one valid, initialised WSAPOLLFD that lives across the call (the count
    // passed is 1); its socket is open, as `socket` borrows the TcpStream that owns it, and
    // Winsock is initialised, as std did that to create it. WSAPoll only writes `revents`.
    // WSAGetLastError has no preconditions and reads this thread's error right after the call.
    let failed = unsafe { (WSAPoll(&mut fd, 1, ms) == SOCKET_ERROR).then(|| WSAGetLastError()) };
    match failed {
        Some(code) => Err(io::Error::from_raw_os_error(code)),
        None => Ok(()),
    }
}

/// `d` rounded up to whole milliseconds, so that a wait near the deadline is not a busy loop of
/// zero-millisecond waits.
fn round_up_to_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn a_read_waits_for_data_and_a_silent_peer_times_out_by_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut client = connect(&[addr], Some(Instant::now() + Duration::from_secs(5)), &|| false).unwrap();
        let (mut server, _) = l.accept().unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let r = when_ready(
            &mut client,
            Interest::Readable,
            Some(Instant::now() + Duration::from_millis(150)),
            || false,
            |c| c.read(&mut buf),
        );
        assert!(matches!(r, Err(Waited::TimedOut)), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(400));
        server.write_all(b"hi").unwrap();
        let n = when_ready(
            &mut client,
            Interest::Readable,
            Some(Instant::now() + Duration::from_secs(5)),
            || false,
            |c| c.read(&mut buf),
        )
        .unwrap();
        assert_eq!(&buf[..n], b"hi");
    }

    #[test]
    fn cancel_ends_a_wait_and_a_refused_address_is_failed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = connect(&[l.local_addr().unwrap()], None, &|| false).unwrap();
        let mut buf = [0u8; 1];
        let r = when_ready(&mut client, Interest::Readable, None, || true, |c| c.read(&mut buf));
        assert!(matches!(r, Err(Waited::Cancelled)));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let r = connect(&[closed], Some(Instant::now() + Duration::from_secs(5)), &|| false);
        assert!(matches!(r, Err(Waited::Failed(_))), "{r:?}");
    }

    /// How many attempts a wait may make in `elapsed`: the first, one per [`cancel::POLL`] the
    /// readiness wait timed out, and the one that succeeded (a spurious wake-up or two allowed).
    fn attempts_allowed(elapsed: Duration) -> u32 {
        3 + u32::try_from(elapsed.as_millis() / cancel::POLL.as_millis()).unwrap()
    }

    #[test]
    fn a_read_waits_on_readiness_not_on_a_timer_and_sees_late_data_when_it_comes() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = connect(&[l.local_addr().unwrap()], None, &|| false).unwrap();
        let (mut server, _) = l.accept().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(120));
            server.write_all(b"late").unwrap();
            (Instant::now(), server)
        });
        let started = Instant::now();
        let mut attempts = 0;
        let mut buf = [0u8; 8];
        let n = when_ready(
            &mut client,
            Interest::Readable,
            Some(Instant::now() + Duration::from_secs(5)),
            || false,
            |c| {
                attempts += 1;
                c.read(&mut buf)
            },
        )
        .unwrap();
        let seen = Instant::now();
        let (written, _server) = writer.join().unwrap();
        assert_eq!(&buf[..n], b"late");
        // A sleep schedule of 1, 2, 4, 8, 10 ms made about 15 attempts here.
        assert!(
            attempts <= attempts_allowed(started.elapsed()),
            "{attempts} attempts in {:?}",
            started.elapsed()
        );
        assert!(seen.saturating_duration_since(written) < Duration::from_secs(1));
    }

    #[test]
    fn a_write_to_a_full_socket_waits_for_room_and_loses_no_byte() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = connect(&[l.local_addr().unwrap()], None, &|| false).unwrap();
        let (mut server, _) = l.accept().unwrap();
        // Fill the send and receive buffers until a write would block.
        let chunk = vec![b'x'; 64 * 1024];
        let mut queued = 0usize;
        let fill_by = Instant::now() + Duration::from_secs(10);
        loop {
            match client.write(&chunk) {
                Ok(n) => queued += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
            assert!(Instant::now() < fill_by, "the socket never filled up");
        }
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(120));
            let mut sink = vec![0u8; 256 * 1024];
            let mut read = 0usize;
            server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            while read < queued + 1 {
                match server.read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            read
        });
        let started = Instant::now();
        let mut attempts = 0;
        let n = when_ready(
            &mut client,
            Interest::Writable,
            Some(Instant::now() + Duration::from_secs(10)),
            || false,
            |c| {
                attempts += 1;
                c.write(b"!")
            },
        )
        .unwrap();
        assert_eq!(n, 1);
        assert!(
            attempts <= attempts_allowed(started.elapsed()),
            "{attempts} attempts in {:?}",
            started.elapsed()
        );
        drop(client);
        assert_eq!(reader.join().unwrap(), queued + 1);
    }

    #[test]
    fn a_cancel_during_a_readiness_wait_is_seen_within_the_poll_interval() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = connect(&[l.local_addr().unwrap()], None, &|| false).unwrap();
        let (_server, _) = l.accept().unwrap();
        let cancel_at = Instant::now() + Duration::from_millis(100);
        let mut buf = [0u8; 1];
        let r = when_ready(
            &mut client,
            Interest::Readable,
            None,
            || Instant::now() >= cancel_at,
            |c| c.read(&mut buf),
        );
        assert!(matches!(r, Err(Waited::Cancelled)), "{r:?}");
        let late = Instant::now().saturating_duration_since(cancel_at);
        assert!(
            late < cancel::POLL + Duration::from_millis(150),
            "seen {late:?} after the cancel"
        );
    }
}
