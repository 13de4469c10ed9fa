//! TCP that can be cancelled, for both transports (the HTTP client and the SMTP session).
//!
//! - [`connect`] tries each address with an equal share of the connect deadline and looks at the
//!   cancel flag about once a second (std offers no interruptible connect).
//! - The connected socket is non-blocking and every read and write waits through
//!   [`when_ready`]: one attempt, then a pause of 1 ms doubling to 10 ms, the cancel flag looked
//!   at before each attempt. A blocking call with a short timeout would be simpler, but on
//!   Windows a send or receive that times out leaves the socket indeterminate (Winsock gives no
//!   guarantee how much was sent or received) and must not be retried; a non-blocking call
//!   either makes progress or reports `WouldBlock` having done nothing. std has no portable
//!   readiness wait, and a pause of at most 10 ms keeps replies and cancel prompt.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Why a wait gave up.
#[derive(Debug)]
pub(crate) enum Waited {
    Cancelled,
    TimedOut,
    Failed(io::Error),
}

/// The longest pause between two attempts of [`when_ready`]: well under [`crate::cancel::POLL`].
const MAX_PAUSE: Duration = Duration::from_millis(10);

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

/// Runs the non-blocking socket operation `op` until it makes progress, `deadline` passes or
/// `cancelled()` says so, pausing briefly between attempts (see the module docs for why).
pub(crate) fn when_ready<T>(
    deadline: Option<Instant>,
    cancelled: impl Fn() -> bool,
    mut op: impl FnMut() -> io::Result<T>,
) -> Result<T, Waited> {
    let mut pause = Duration::from_millis(1);
    loop {
        if cancelled() {
            return Err(Waited::Cancelled);
        }
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(Waited::Failed(e)),
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(Waited::TimedOut);
        }
        std::thread::sleep(left.map_or(pause, |l| l.min(pause)));
        pause = (pause * 2).min(MAX_PAUSE);
    }
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
            Some(Instant::now() + Duration::from_millis(150)),
            || false,
            || client.read(&mut buf),
        );
        assert!(matches!(r, Err(Waited::TimedOut)), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(400));
        server.write_all(b"hi").unwrap();
        let n = when_ready(
            Some(Instant::now() + Duration::from_secs(5)),
            || false,
            || client.read(&mut buf),
        )
        .unwrap();
        assert_eq!(&buf[..n], b"hi");
    }

    #[test]
    fn cancel_ends_a_wait_and_a_refused_address_is_failed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = connect(&[l.local_addr().unwrap()], None, &|| false).unwrap();
        let mut buf = [0u8; 1];
        let r = when_ready(None, || true, || client.read(&mut buf));
        assert!(matches!(r, Err(Waited::Cancelled)));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let r = connect(&[closed], Some(Instant::now() + Duration::from_secs(5)), &|| false);
        assert!(matches!(r, Err(Waited::Failed(_))), "{r:?}");
    }
}
