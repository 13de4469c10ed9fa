//! Helpers shared by the `oauth_*` integration tests: a raw HTTP client that plays the browser on
//! the loopback listener, a url_opener that hands the authorization URL to a "browser" thread,
//! and a log capture that checks no secret is ever logged.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthmail::log::Level;
use oauthmail::Client;
use url::Url;

/// A response as the browser saw it.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends `GET target` to `addr` the way a browser would, and reads the answer until the server
/// closes the connection (the listener always answers `Connection: close`).
pub fn get_at(addr: SocketAddr, host: &str, target: &str) -> Page {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the loopback listener");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: oauth-test-browser\r\nAccept: text/html\r\nConnection: keep-alive\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the page");
    parse(&raw)
}

/// GET a full `http://` URL.
pub fn get(url: &str) -> Page {
    let u = Url::parse(url).unwrap();
    let addr = (
        u.host_str().unwrap().trim_matches(|c| c == '[' || c == ']'),
        u.port().unwrap(),
    )
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    get_at(
        addr,
        &format!("{}:{}", u.host_str().unwrap(), u.port().unwrap()),
        &target,
    )
}

pub fn parse(raw: &[u8]) -> Page {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Page {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The parameters of an authorization URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    query(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Replaces (or adds) one query parameter of `url`, keeping the others in order.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().filter(|(k, _)| k != name).collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        q.append_pair(name, value);
    }
    u.to_string()
}

/// What the "browser" thread saw, for the test to check after authorize returned.
pub type Seen = Arc<Mutex<Vec<Page>>>;

/// Installs a url_opener that runs `browser(url, seen)` on its own thread (like a real browser
/// process) and returns at once. The thread is joined by [`Opened::join`].
pub struct Opened {
    pub seen: Seen,
    pub urls: Arc<Mutex<Vec<String>>>,
    handles: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl Opened {
    pub fn join(&self) -> Vec<Page> {
        let handles: Vec<_> = self.handles.lock().unwrap().drain(..).collect();
        for h in handles {
            h.join().expect("browser thread panicked");
        }
        self.seen.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        self.urls
            .lock()
            .unwrap()
            .first()
            .cloned()
            .expect("the url_opener was called")
    }
}

pub fn open_with<F>(client: &Client, browser: F) -> Opened
where
    F: Fn(String, Seen) + Send + Sync + 'static,
{
    let seen: Seen = Arc::default();
    let urls: Arc<Mutex<Vec<String>>> = Arc::default();
    let handles: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>> = Arc::default();
    let browser = Arc::new(browser);
    let (s, u, h) = (seen.clone(), urls.clone(), handles.clone());
    client.set_url_opener(Some(Arc::new(move |url: &str| {
        u.lock().unwrap().push(url.to_string());
        let (b, s2, url) = (browser.clone(), s.clone(), url.to_string());
        h.lock().unwrap().push(std::thread::spawn(move || b(url, s2)));
        true
    })));
    Opened { seen, urls, handles }
}

/// Captures every log line up to trace level.
pub fn capture_log(client: &Client) -> Arc<Mutex<Vec<String>>> {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = lines.clone();
    client.set_logger(
        Some(Arc::new(move |level: Level, m: &str| {
            l.lock().unwrap().push(format!("{level:?} {m}"))
        })),
        Level::Trace,
    );
    lines
}

/// Panics when any of `secrets` occurs in any of `texts`.
pub fn assert_no_secret(texts: &[String], secrets: &[&str]) {
    for t in texts {
        for s in secrets {
            assert!(
                s.len() >= 6,
                "a secret to look for must be long enough to be meaningful"
            );
            assert!(!t.contains(s), "a secret leaked into: {t}");
        }
    }
}

/// Whether a TCP port on 127.0.0.1 can be bound again (the listener was closed).
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Waits until `f` is true or `limit` passed.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The loopback port of a redirect URI.
pub fn port_of(redirect_uri: &str) -> u16 {
    Url::parse(redirect_uri).unwrap().port().unwrap()
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
