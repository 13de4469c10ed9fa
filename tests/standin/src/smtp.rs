//! Gmail SMTP (providers.md §2): implicit TLS and STARTTLS ports, Gmail's greeting, EHLO lists,
//! AUTH XOAUTH2 / OAUTHBEARER with the exact failure dance, MAIL/RCPT/DATA/BDAT, limits, and the
//! SMTP faults of the control plane.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::json;

use crate::http::Stream;
use crate::mailbox::{self, Delivery};
use crate::mime;
use crate::state::{random_string, Fault, Shared, SmtpSessionRecord, HEX, MAIL_SCOPE, SMTP_FLIGHTS_KEPT};

/// How many session records the stand-in keeps (the oldest go first).
const SESSIONS_KEPT: usize = 1000;

const HOST: &str = "smtp.gmail.com";
const MAX_COMMAND: usize = 64 * 1024;

pub fn serve(listener: TcpListener, shared: Arc<Shared>, implicit_tls: bool) -> JoinHandle<()> {
    crate::http::accept_loop(
        listener,
        shared,
        format!("standin-smtp{}", if implicit_tls { "s" } else { "" }),
        "standin-smtp-conn".into(),
        move |shared, tcp| {
            let _ = session(shared, tcp, implicit_tls);
        },
    )
}

/// What the caller does after a stage's fault check.
enum Next {
    Continue,
    Replied,
    Close,
}

struct Session<'a> {
    shared: &'a Shared,
    stream: Option<Stream>,
    buf: Vec<u8>,
    implicit: bool,
    tls: bool,
    greeted: bool,
    auth: Option<(String, &'static str)>,
    from: Option<String>,
    rcpts: Vec<String>,
    body_8bit: Option<String>,
    smtputf8: bool,
    bdat: Vec<u8>,
    bdat_too_big: bool,
    id: String,
    peer: String,
    /// This session's entry in `Inner::smtp_sessions`.
    record: u64,
    /// Replies were flushed since the last read: the next read that must wait for the socket
    /// starts a new flight.
    wrote: bool,
    /// The next command noted opens a new flight (the client was read after a flush).
    new_flight: bool,
}

fn session_id() -> String {
    let n = u32::from(random_string(1, HEX).as_bytes()[0]) % 90 + 10;
    format!(
        "{}-{}sm{}a{}.{}",
        random_string(13, HEX),
        random_string(10, HEX),
        random_string(7, b"0123456789"),
        random_string(2, b"0123456789"),
        n
    )
}

fn session(shared: &Shared, tcp: TcpStream, implicit: bool) -> io::Result<()> {
    let peer = tcp.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    tcp.set_read_timeout(Some(Duration::from_secs(300)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(60)))?;
    let _ = tcp.set_nodelay(true);
    shared.lock().counters.smtp_connections += 1;
    let stream = if implicit {
        Stream::accept_tls_counted(shared, tcp, shared.tls.clone())?
    } else {
        Stream::Plain(tcp)
    };
    let mut s = Session {
        shared,
        stream: Some(stream),
        buf: Vec::new(),
        implicit,
        tls: implicit,
        greeted: false,
        auth: None,
        from: None,
        rcpts: Vec::new(),
        body_8bit: None,
        smtputf8: false,
        bdat: Vec::new(),
        bdat_too_big: false,
        id: session_id(),
        peer,
        record: 0,
        wrote: false,
        new_flight: false,
    };
    {
        let mut st = shared.lock();
        st.smtp_session_seq += 1;
        let seq = st.smtp_session_seq;
        st.smtp_sessions.insert(
            seq,
            SmtpSessionRecord {
                seq,
                id: s.id.clone(),
                port: if implicit { "smtps" } else { "starttls" },
                ..Default::default()
            },
        );
        while st.smtp_sessions.len() > SESSIONS_KEPT {
            st.smtp_sessions.pop_first();
        }
        s.record = seq;
    }
    match s.fault("connect")? {
        Next::Continue => {}
        Next::Replied | Next::Close => return Ok(()),
    }
    s.send(&format!("220 {HOST} ESMTP {} - gsmtp", s.id))?;
    let result = s.run();
    if let Some(r) = shared.lock().smtp_sessions.get_mut(&s.record) {
        r.closed = true;
    }
    // A clean TLS close (clients that read to EOF after QUIT see no truncation error).
    if let Some(Stream::Tls(t)) = s.stream.as_mut() {
        t.conn.send_close_notify();
        let _ = t.flush();
    }
    result
}

impl Session<'_> {
    fn stream(&mut self) -> &mut Stream {
        self.stream.as_mut().expect("the stream is present outside STARTTLS")
    }

    fn send(&mut self, text: &str) -> io::Result<()> {
        let mut out = text.replace('\n', "\r\n");
        out.push_str("\r\n");
        let s = self.stream();
        s.write_all(out.as_bytes())?;
        s.flush()?;
        self.wrote = true;
        Ok(())
    }

    /// Called before every read from the socket: after a flush of replies, this read waits for
    /// the client's next flight.
    /// (A flight is recorded when its first command is complete, so a client that goes away
    /// instead of sending makes none.)
    fn reading(&mut self) {
        if std::mem::replace(&mut self.wrote, false) {
            self.new_flight = true;
        }
    }

    /// Counts a command (or `<data>`) in the current flight.
    fn note(&mut self, what: &str) {
        let new_flight = std::mem::replace(&mut self.new_flight, false);
        if let Some(r) = self.shared.lock().smtp_sessions.get_mut(&self.record) {
            if new_flight {
                r.flights += 1;
                r.recent_flights.push(Vec::new());
                if r.recent_flights.len() > SMTP_FLIGHTS_KEPT {
                    r.recent_flights.remove(0);
                }
            }
            r.commands += 1;
            if let Some(f) = r.recent_flights.last_mut() {
                f.push(what.to_string());
            }
        }
    }

    fn more_info(&self) -> String {
        self.shared.lock().settings.smtp_more_info_text.clone()
    }

    fn gsmtp(&self) -> String {
        format!("{} - gsmtp", self.id)
    }

    /// One line including its line ending; `None` at EOF.
    fn read_line(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(p) = self.buf.iter().position(|b| *b == b'\n') {
                let rest = self.buf.split_off(p + 1);
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            if self.buf.len() > max {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            let mut chunk = [0u8; 16 * 1024];
            self.reading();
            let n = self.stream().read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn read_exact_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 64 * 1024];
            self.reading();
            let got = self.stream().read(&mut chunk)?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    fn fault(&mut self, stage: &str) -> io::Result<Next> {
        self.fault_for(stage, None)
    }

    /// [`Session::fault`] for one recipient (`address` faults match only theirs).
    fn fault_for(&mut self, stage: &str, address: Option<&str>) -> io::Result<Next> {
        let Some(f) = self.shared.lock().take_fault_for("smtp", Some(stage), address) else {
            return Ok(Next::Continue);
        };
        self.shared.log(&format!("smtp fault {} at stage {stage}", f.kind));
        match f.kind.as_str() {
            "delay" => {
                self.shared.sleep(f.delay_ms.unwrap_or(1000));
                Ok(Next::Continue)
            }
            "drop" => {
                let _ = self.stream().tcp().shutdown(std::net::Shutdown::Both);
                Ok(Next::Close)
            }
            "hang" => {
                self.shared.hang();
                Ok(Next::Close)
            }
            _ => {
                let code = f.code.unwrap_or(451);
                self.send(&self.fault_text(&f, code, stage))?;
                if code == 421 {
                    return Ok(Next::Close);
                }
                Ok(Next::Replied)
            }
        }
    }

    fn fault_text(&self, f: &Fault, code: u16, stage: &str) -> String {
        let g = self.gsmtp();
        let text = match &f.text {
            Some(t) => t.clone(),
            // Gmail's answer to a recipient that does not exist.
            None if code == 550 && stage == "rcpt" => format!(
                "5.1.1 The email account that you tried to reach does not exist. Please try\n5.1.1 double-checking the recipient's email address for typos or\n5.1.1 unnecessary spaces. {}\n5.1.1  https://support.google.com/mail/?p=NoSuchUser {g}",
                self.more_info()
            ),
            None => match code {
                421 => format!("4.7.0 Temporary System Problem.  Try again later (10). {g}"),
                451 => format!("4.3.0 Mail server temporarily rejected message. {g}"),
                452 => format!("4.5.3 Your message has too many recipients. {g}"),
                535 => format!(
                    "5.7.8 Username and Password not accepted. {}\n5.7.8  https://support.google.com/mail/?p=BadCredentials {g}",
                    self.more_info()
                ),
                552 => format!("5.2.3 Your message exceeded Google's message size limits. Please visit\n5.2.3  https://support.google.com/mail/?p=MaxSizeError to view our size\n5.2.3 guidelines. {g}"),
                550 => format!("5.4.5 Daily user sending limit exceeded. {g}"),
                554 => format!("5.6.0 Mail message is malformed. Not accepted. {g}"),
                c => format!("{}.0.0 Rejected by a stand-in fault. {g}", c / 100),
            },
        };
        let lines: Vec<&str> = text.split('\n').collect();
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("{code}{sep}{l}"));
        }
        out
    }

    fn reset_txn(&mut self) {
        self.from = None;
        self.rcpts.clear();
        self.body_8bit = None;
        self.smtputf8 = false;
        self.bdat.clear();
        self.bdat_too_big = false;
    }

    fn starttls_first(&mut self) -> io::Result<()> {
        let m = self.more_info();
        let g = self.gsmtp();
        self.send(&format!(
            "530-5.7.0 Must issue a STARTTLS command first. {m}\n530-5.7.0  https://support.google.com/a/answer/3221692 and review RFC 3207\n530 5.7.0 specifications. {g}"
        ))
    }

    fn bad_credentials(&mut self) -> io::Result<()> {
        let m = self.more_info();
        let g = self.gsmtp();
        self.send(&format!(
            "535-5.7.8 Username and Password not accepted. {m}\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials {g}"
        ))
    }

    fn too_big(&mut self) -> io::Result<()> {
        let g = self.gsmtp();
        self.send(&format!(
            "552-5.2.3 Your message exceeded Google's message size limits. Please visit\n552-5.2.3  https://support.google.com/mail/?p=MaxSizeError to view our size\n552 5.2.3 guidelines. {g}"
        ))
    }

    fn run(&mut self) -> io::Result<()> {
        loop {
            if self.shared.stopping() {
                return Ok(());
            }
            let Some(raw) = self.read_line(MAX_COMMAND)? else {
                return Ok(());
            };
            let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
            let (verb, args) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            self.note(&verb);
            let g = self.gsmtp();
            let needs_tls = matches!(verb.as_str(), "AUTH" | "MAIL" | "RCPT" | "DATA" | "BDAT");
            if needs_tls && !self.tls {
                self.starttls_first()?;
                continue;
            }
            match verb.as_str() {
                "EHLO" | "HELO" => {
                    match self.fault("ehlo")? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    if args.is_empty() {
                        self.send(&format!("501-5.5.4 Empty HELO/EHLO argument not allowed, closing connection.\n501 5.5.4  https://support.google.com/mail/?p=helo {g}"))?;
                        return Ok(());
                    }
                    self.greeted = true;
                    self.reset_txn();
                    if verb == "HELO" {
                        self.send(&format!("250 {HOST} at your service"))?;
                        continue;
                    }
                    let size = self.shared.lock().settings.smtp_max_message_bytes;
                    let mut lines = vec![
                        format!("{HOST} at your service, [{}]", self.peer),
                        format!("SIZE {size}"),
                        "8BITMIME".to_string(),
                    ];
                    if self.tls {
                        lines.push("AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH".into());
                    } else {
                        lines.push("STARTTLS".into());
                    }
                    lines.push("ENHANCEDSTATUSCODES".into());
                    if self.shared.lock().settings.smtp_pipelining {
                        lines.push("PIPELINING".into());
                    }
                    if self.tls {
                        lines.push("CHUNKING".into());
                    }
                    lines.push("SMTPUTF8".into());
                    let n = lines.len();
                    let text: Vec<String> = lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("250{}{l}", if i + 1 == n { ' ' } else { '-' }))
                        .collect();
                    self.send(&text.join("\n"))?;
                }
                "STARTTLS" => {
                    if self.tls {
                        self.send(&format!("503 5.5.1 STARTTLS not advertised. {g}"))?;
                        continue;
                    }
                    match self.fault("starttls")? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    self.send("220 2.0.0 Ready to start TLS")?;
                    // Anything pipelined after STARTTLS in plaintext is discarded (RFC 3207 §6).
                    self.buf.clear();
                    let Some(Stream::Plain(tcp)) = self.stream.take() else {
                        return Ok(());
                    };
                    self.stream = Some(Stream::accept_tls_counted(self.shared, tcp, self.shared.tls.clone())?);
                    self.tls = true;
                    self.greeted = false;
                    self.auth = None;
                    self.reset_txn();
                }
                "AUTH" => {
                    if !self.greeted {
                        self.send(&format!("503 5.5.1 EHLO/HELO first. {g}"))?;
                        continue;
                    }
                    if self.auth.is_some() {
                        self.send(&format!("503 5.5.1 Already authenticated. {g}"))?;
                        continue;
                    }
                    match self.fault("auth")? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    if !self.auth_command(&args)? {
                        return Ok(());
                    }
                }
                "MAIL" => {
                    if !self.greeted {
                        self.send(&format!("503 5.5.1 EHLO/HELO first. {g}"))?;
                        continue;
                    }
                    if self.auth.is_none() {
                        let m = self.more_info();
                        self.send(&format!("530-5.7.0 Authentication Required. {m}\n530 5.7.0  https://support.google.com/mail/?p=WantAuthError {g}"))?;
                        continue;
                    }
                    if self.from.is_some() {
                        self.send(&format!("503 5.5.1 Nested MAIL command. {g}"))?;
                        continue;
                    }
                    let Some((addr, params)) = path_arg(&args, "FROM:") else {
                        self.send(&format!("555 5.5.2 Syntax error. {g}"))?;
                        continue;
                    };
                    match self.fault("mail")? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    let max = self.shared.lock().settings.smtp_max_message_bytes;
                    let mut too_big = false;
                    for p in params.split_whitespace() {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        match k.to_ascii_uppercase().as_str() {
                            "SIZE" => too_big = v.parse::<usize>().map(|n| n > max).unwrap_or(false),
                            "BODY" => self.body_8bit = Some(v.to_ascii_uppercase()),
                            "SMTPUTF8" => self.smtputf8 = true,
                            _ => {}
                        }
                    }
                    if too_big {
                        self.body_8bit = None;
                        self.smtputf8 = false;
                        self.too_big()?;
                        continue;
                    }
                    self.from = Some(addr);
                    self.send(&format!("250 2.1.0 OK {g}"))?;
                }
                "RCPT" => {
                    if self.from.is_none() {
                        self.send(&format!("503 5.5.1 MAIL first. {g}"))?;
                        continue;
                    }
                    let Some((addr, _)) = path_arg(&args, "TO:") else {
                        self.send(&format!("555 5.5.2 Syntax error. {g}"))?;
                        continue;
                    };
                    match self.fault_for("rcpt", Some(&addr))? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    if !mime::valid_address(&addr) {
                        let m = self.more_info();
                        self.send(&format!("553-5.1.3 The recipient address <{addr}> is not a valid RFC 5321\n553-5.1.3 address. {m}\n553 5.1.3  https://support.google.com/a/answer/3221692 and review RFC 5321 specifications. {g}"))?;
                        continue;
                    }
                    let max = self.shared.lock().settings.max_recipients;
                    if self.rcpts.len() >= max {
                        let m = self.more_info();
                        self.send(&format!("452-4.5.3 Your message has too many recipients. {m}\n452 4.5.3  https://support.google.com/mail/?p=TooManyRecipientsError {g}"))?;
                        continue;
                    }
                    self.rcpts.push(addr);
                    self.send(&format!("250 2.1.5 OK {g}"))?;
                }
                "DATA" => {
                    if self.from.is_none() {
                        self.send(&format!("503 5.5.1 MAIL first. {g}"))?;
                        continue;
                    }
                    if self.rcpts.is_empty() {
                        self.send(&format!("503 5.5.1 RCPT first. {g}"))?;
                        continue;
                    }
                    match self.fault("data")? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    self.send(&format!("354  Go ahead {g}"))?;
                    let max = self.shared.lock().settings.smtp_max_message_bytes;
                    let mut msg = Vec::new();
                    let mut too_big = false;
                    let mut noted = false;
                    loop {
                        let Some(l) = self.read_line(max + MAX_COMMAND)? else {
                            return Ok(());
                        };
                        if !noted {
                            self.note("<data>");
                            noted = true;
                        }
                        if l == b".\r\n" || l == b".\n" {
                            break;
                        }
                        let l = if l.first() == Some(&b'.') { &l[1..] } else { &l[..] };
                        if msg.len() + l.len() > max {
                            too_big = true;
                        } else {
                            msg.extend_from_slice(l);
                        }
                    }
                    if too_big {
                        self.reset_txn();
                        self.too_big()?;
                        continue;
                    }
                    if !self.finish_message(msg)? {
                        return Ok(());
                    }
                }
                "BDAT" => {
                    let mut it = args.split_whitespace();
                    let n: Option<usize> = it.next().and_then(|n| n.parse().ok());
                    let last = it.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
                    let Some(n) = n else {
                        self.send(&format!("501 5.5.4 Syntax error in parameters. {g}"))?;
                        continue;
                    };
                    let chunk = self.read_exact_n(n)?;
                    self.note("<bdat>");
                    if self.from.is_none() || self.rcpts.is_empty() {
                        self.send(&format!("503 5.5.1 RCPT first. {g}"))?;
                        continue;
                    }
                    let max = self.shared.lock().settings.smtp_max_message_bytes;
                    if self.bdat.len() + chunk.len() > max {
                        self.bdat_too_big = true;
                    } else {
                        self.bdat.extend_from_slice(&chunk);
                    }
                    if !last {
                        self.send(&format!("250 2.0.0 OK {g}"))?;
                        continue;
                    }
                    if self.bdat_too_big {
                        self.reset_txn();
                        self.too_big()?;
                        continue;
                    }
                    let msg = std::mem::take(&mut self.bdat);
                    if !self.finish_message(msg)? {
                        return Ok(());
                    }
                }
                "RSET" => {
                    match self.fault("rset")? {
                        Next::Continue => {}
                        Next::Replied => continue,
                        Next::Close => return Ok(()),
                    }
                    self.reset_txn();
                    self.send(&format!("250 2.1.5 Flushed {g}"))?;
                }
                "NOOP" => self.send(&format!("250 2.0.0 OK {g}"))?,
                "VRFY" => self.send(&format!("252 2.1.5 Send some mail, I'll try my best {g}"))?,
                "HELP" => self.send(&format!("214 2.0.0  https://www.google.com/search?btnI&q=RFC+5321 {g}"))?,
                "QUIT" => {
                    self.send(&format!("221 2.0.0 closing connection {g}"))?;
                    return Ok(());
                }
                _ => self.send(&format!("502 5.5.1 Unrecognized command. {g}"))?,
            }
        }
    }

    /// Stores the message (after the `data_end` fault check). `Ok(false)`: close.
    fn finish_message(&mut self, msg: Vec<u8>) -> io::Result<bool> {
        match self.fault("data_end")? {
            Next::Continue => {}
            Next::Replied => {
                self.reset_txn();
                return Ok(true);
            }
            Next::Close => return Ok(false),
        }
        let (account, mech) = self.auth.clone().unwrap_or_default();
        let delivery = Delivery {
            transport: "smtp",
            account,
            envelope_from: self.from.clone().unwrap_or_default(),
            envelope_to: self.rcpts.clone(),
            bytes: msg,
            thread_id: None,
            upload_type: None,
            smtp: Some(json!({
                "port": if self.implicit { "smtps" } else { "starttls" },
                "auth_mechanism": mech,
                "body": self.body_8bit,
                "smtputf8": self.smtputf8,
            })),
        };
        let g = self.gsmtp();
        match mailbox::deliver(self.shared, delivery) {
            Ok(_) => {
                let t = self.shared.lock().now();
                self.send(&format!("250 2.0.0 OK  {t} {g}"))?;
            }
            Err(e) => {
                self.shared.log(&format!("mailbox write failed: {e}"));
                self.send(&format!("451 4.3.0 Mail server temporarily rejected message. {g}"))?;
            }
        }
        self.reset_txn();
        Ok(true)
    }

    /// Reads a SASL continuation line (trimmed); `None` at EOF.
    fn sasl_line(&mut self) -> io::Result<Option<String>> {
        let line = self.read_line(MAX_COMMAND)?;
        if line.is_some() {
            self.note("<sasl>");
        }
        Ok(line.map(|l| {
            String::from_utf8_lossy(&l)
                .trim_end_matches(['\r', '\n'])
                .trim()
                .to_string()
        }))
    }

    /// `Ok(false)`: the client went away.
    fn auth_command(&mut self, args: &str) -> io::Result<bool> {
        let g = self.gsmtp();
        let (mech, ir) = match args.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
            None => (args.to_ascii_uppercase(), None),
        };
        match mech.as_str() {
            "XOAUTH2" | "OAUTHBEARER" => {
                let data = match ir {
                    Some(d) => d,
                    None => {
                        self.send("334 ")?;
                        match self.sasl_line()? {
                            Some(l) => l,
                            None => return Ok(false),
                        }
                    }
                };
                if data == "*" {
                    self.send(&format!(
                        "501 5.7.0 Client initiated Authentication Exchange cancelled. {g}"
                    ))?;
                    return Ok(true);
                }
                let decoded = if data == "=" {
                    Some(Vec::new())
                } else {
                    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
                    GeneralPurpose::new(&alphabet::STANDARD, cfg).decode(&data).ok()
                };
                let Some(decoded) = decoded else {
                    self.send(&format!("501 5.5.2 Cannot Decode response {g}"))?;
                    return Ok(true);
                };
                let parsed = if mech == "XOAUTH2" {
                    parse_xoauth2(&decoded)
                } else {
                    parse_oauthbearer(&decoded)
                };
                let ok = parsed.and_then(|(user, token)| self.check_token(&user, &token));
                match ok {
                    Some(account) => {
                        self.shared.lock().counters.smtp_auth_ok += 1;
                        self.shared.log(&format!("smtp: AUTH {mech} ok for {account}"));
                        self.auth = Some((account, if mech == "XOAUTH2" { "XOAUTH2" } else { "OAUTHBEARER" }));
                        self.send("235 2.7.0 Accepted")?;
                    }
                    None => {
                        self.shared.lock().counters.smtp_auth_failed += 1;
                        self.shared.log(&format!("smtp: AUTH {mech} rejected"));
                        let status = self.shared.lock().settings.xoauth2_error_status.clone();
                        let challenge = if mech == "XOAUTH2" {
                            format!("{{\"status\":\"{status}\",\"schemes\":\"Bearer\",\"scope\":\"{MAIL_SCOPE}\"}}")
                        } else {
                            format!(
                                "{{\"status\":\"invalid_token\",\"scope\":\"{MAIL_SCOPE}\",\"openid-configuration\":\"https://accounts.google.com/.well-known/openid-configuration\"}}"
                            )
                        };
                        self.send(&format!("334 {}", STANDARD.encode(challenge)))?;
                        // The client's empty line (XOAUTH2) or AQ== (OAUTHBEARER), then 535.
                        if self.sasl_line()?.is_none() {
                            return Ok(false);
                        }
                        self.bad_credentials()?;
                    }
                }
            }
            "PLAIN" | "XOAUTH" | "PLAIN-CLIENTTOKEN" => {
                if ir.is_none() {
                    self.send("334 ")?;
                    if self.sasl_line()?.is_none() {
                        return Ok(false);
                    }
                }
                self.shared.lock().counters.smtp_auth_failed += 1;
                self.bad_credentials()?;
            }
            "LOGIN" => {
                if ir.is_none() {
                    self.send("334 VXNlcm5hbWU6")?;
                    if self.sasl_line()?.is_none() {
                        return Ok(false);
                    }
                }
                self.send("334 UGFzc3dvcmQ6")?;
                if self.sasl_line()?.is_none() {
                    return Ok(false);
                }
                self.shared.lock().counters.smtp_auth_failed += 1;
                self.bad_credentials()?;
            }
            _ => self.send(&format!("504 5.7.4 Unrecognized authentication type. {g}"))?,
        }
        Ok(true)
    }

    /// The account when the token is live, carries `https://mail.google.com/` and belongs to
    /// `user`.
    fn check_token(&self, user: &str, token: &str) -> Option<String> {
        let st = self.shared.lock();
        let at = st.live_access(token)?;
        // A service account's own token (no `sub`) has no mailbox (issue 16).
        (at.scopes.iter().any(|s| s == MAIL_SCOPE)
            && at.user.eq_ignore_ascii_case(user)
            && !st.service_accounts.is_service_account(&at.user))
        .then_some(at.user)
    }
}

/// `FROM:<addr> params` / `TO:<addr> params`.
fn path_arg(args: &str, prefix: &str) -> Option<(String, String)> {
    if !args.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = args[prefix.len()..].trim_start();
    if let Some(r) = rest.strip_prefix('<') {
        let end = r.find('>')?;
        Some((r[..end].to_string(), r[end + 1..].trim().to_string()))
    } else {
        let (a, p) = rest.split_once(' ').unwrap_or((rest, ""));
        Some((a.to_string(), p.trim().to_string()))
    }
}

/// `user=U ^A auth=Bearer T ^A ^A`.
pub fn parse_xoauth2(b: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(b).ok()?;
    let mut user = None;
    let mut token = None;
    for kv in s.split('\x01') {
        if let Some(u) = kv.strip_prefix("user=") {
            user = Some(u.to_string());
        } else if let Some(a) = kv.strip_prefix("auth=") {
            let (scheme, t) = a.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            token = Some(t.to_string());
        }
    }
    Some((user?, token?))
}

/// `n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A` (RFC 7628).
pub fn parse_oauthbearer(b: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(b).ok()?;
    let (gs2, rest) = s.split_once('\x01')?;
    let user = gs2
        .split(',')
        .find_map(|p| p.strip_prefix("a="))
        .map(|u| u.replace("=2C", ",").replace("=3D", "="))?;
    let token = rest.split('\x01').find_map(|kv| {
        let a = kv.strip_prefix("auth=")?;
        let (scheme, t) = a.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| t.to_string())
    })?;
    Some((user, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_providers_md_xoauth2_and_oauthbearer_vectors() {
        let x = STANDARD
            .decode("dXNlcj1lcnAudGVzdEBnbWFpbC5jb20BYXV0aD1CZWFyZXIgeWEyOS5URVNULUFDQ0VTUy1UT0tFTgEB")
            .unwrap();
        assert_eq!(
            parse_xoauth2(&x),
            Some(("erp.test@gmail.com".into(), "ya29.TEST-ACCESS-TOKEN".into()))
        );
        let o = STANDARD
            .decode("bixhPWVycC50ZXN0QGdtYWlsLmNvbSwBaG9zdD1zbXRwLmdtYWlsLmNvbQFwb3J0PTU4NwFhdXRoPUJlYXJlciB5YTI5LlRFU1QtQUNDRVNTLVRPS0VOAQE=")
            .unwrap();
        assert_eq!(
            parse_oauthbearer(&o),
            Some(("erp.test@gmail.com".into(), "ya29.TEST-ACCESS-TOKEN".into()))
        );
        assert_eq!(parse_xoauth2(b"user=a\x01auth=Basic x\x01\x01"), None);
    }
}
