//! Outlook SMTP submission (README "Outlook SMTP"): `smtp.office365.com:587`-style greeting and
//! EHLO lists, STARTTLS, `AUTH XOAUTH2` against the stand-in's Outlook access tokens, and
//! Exchange Online's replies (535 5.7.3, 535 5.7.139, 554 5.2.252 SendAsDenied, 432 4.3.2).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde_json::json;

use super::identity::short;
use super::*;
use crate::http::Stream;
use crate::mailbox::{self, Delivery};
use crate::mime;

const MAX_LINE: usize = 64 * 1024;

pub fn serve(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    crate::http::accept_loop(
        listener,
        shared,
        "standin-ms-smtp".into(),
        "standin-ms-smtp-conn".into(),
        |shared, tcp| {
            let _ = session(shared, tcp);
        },
    )
}

struct S<'a> {
    shared: &'a Shared,
    stream: Option<Stream>,
    buf: Vec<u8>,
    tls: bool,
    greeted: bool,
    /// (user= mailbox, token's account)
    auth: Option<(String, String)>,
    from: Option<String>,
    rcpts: Vec<String>,
    bdat: Vec<u8>,
    host: String,
    peer: String,
}

fn server_host() -> String {
    let u = random_string(4, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    format!("MN2PR{}CA{}", random_string(2, b"0123456789"), &u[..2]) + &random_string(4, b"0123456789")
}

fn session(shared: &Shared, tcp: TcpStream) -> io::Result<()> {
    let peer = tcp.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    tcp.set_read_timeout(Some(Duration::from_secs(300)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(60)))?;
    let _ = tcp.set_nodelay(true);
    let fault = {
        let mut st = shared.lock();
        st.ms.counters.smtp_connections += 1;
        st.ms.take_fault("smtp")
    };
    let mut s = S {
        shared,
        stream: Some(Stream::Plain(tcp)),
        buf: Vec::new(),
        tls: false,
        greeted: false,
        auth: None,
        from: None,
        rcpts: Vec::new(),
        bdat: Vec::new(),
        host: server_host(),
        peer,
    };
    match fault {
        Some(f) if f.kind == "drop" => return Ok(()),
        Some(f) => {
            // Put it back for the MAIL stage: a throttle answers 432 there.
            let mut st = shared.lock();
            st.ms.faults.insert(0, MsFault { count: 1, skip: 0, ..f });
        }
        None => {}
    }
    let now = shared.lock().now();
    let date = crate::http::http_date(now).replace(" GMT", " +0000");
    s.send(&format!(
        "220 {}.outlook.office365.com Microsoft ESMTP MAIL Service ready at {date}",
        s.host
    ))?;
    let r = s.run();
    if let Some(Stream::Tls(t)) = s.stream.as_mut() {
        t.conn.send_close_notify();
        let _ = t.flush();
    }
    r
}

impl S<'_> {
    fn stream(&mut self) -> &mut Stream {
        self.stream.as_mut().expect("stream present outside STARTTLS")
    }

    fn send(&mut self, text: &str) -> io::Result<()> {
        let mut out = text.replace('\n', "\r\n");
        out.push_str("\r\n");
        let s = self.stream();
        s.write_all(out.as_bytes())?;
        s.flush()
    }

    /// `[HOST.namprd05.prod.outlook.com 2026-12-03T08:14:08.000Z 08DBB276B7E699C4]`
    fn trailer(&self) -> String {
        let now = self.shared.lock().now();
        format!(
            "[{}.namprd05.prod.outlook.com {}.000Z {}]",
            self.host,
            iso_seconds(now),
            random_string(16, b"0123456789ABCDEF")
        )
    }

    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(p) = self.buf.iter().position(|b| *b == b'\n') {
                let rest = self.buf.split_off(p + 1);
                return Ok(Some(std::mem::replace(&mut self.buf, rest)));
            }
            if self.buf.len() > MAX_LINE + 64 * 1024 * 1024 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            let mut chunk = [0u8; 16 * 1024];
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
            let got = self.stream().read(&mut chunk)?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    fn ehlo(&mut self) -> io::Result<()> {
        let mut lines = vec![
            format!("{}.outlook.office365.com Hello [{}]", self.host, self.peer),
            "SIZE 157286400".to_string(),
            "PIPELINING".into(),
            "DSN".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.tls {
            lines.push("AUTH LOGIN XOAUTH2".into());
        } else {
            lines.push("STARTTLS".into());
        }
        lines.extend(["8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"].map(String::from));
        let n = lines.len();
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i + 1 == n { ' ' } else { '-' }))
            .collect();
        self.send(&text.join("\n"))
    }

    fn run(&mut self) -> io::Result<()> {
        loop {
            if self.shared.stopping() {
                return Ok(());
            }
            let Some(raw) = self.read_line()? else { return Ok(()) };
            let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
            let (verb, args) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            match verb.as_str() {
                "EHLO" | "HELO" => {
                    if args.is_empty() {
                        let t = self.trailer();
                        self.send(&format!("501 5.5.4 Invalid domain name {t}"))?;
                        continue;
                    }
                    self.greeted = true;
                    self.reset();
                    if verb == "HELO" {
                        let h = format!("250 {}.outlook.office365.com Hello [{}]", self.host, self.peer);
                        self.send(&h)?;
                    } else {
                        self.ehlo()?;
                    }
                }
                "STARTTLS" => {
                    if self.tls {
                        self.send("503 5.5.2 Send hello first")?;
                        continue;
                    }
                    self.send("220 2.0.0 SMTP server ready")?;
                    self.buf.clear();
                    let Some(Stream::Plain(tcp)) = self.stream.take() else {
                        return Ok(());
                    };
                    self.stream = Some(Stream::accept_tls(tcp, self.shared.tls.clone())?);
                    self.tls = true;
                    self.greeted = false;
                    self.auth = None;
                    self.reset();
                }
                "AUTH" => {
                    if !self.tls {
                        let t = self.trailer();
                        self.send(&format!("504 5.7.4 Unrecognized authentication type {t}"))?;
                    } else if !self.greeted {
                        self.send("503 5.5.2 Send hello first")?;
                    } else if self.auth.is_some() {
                        self.send("503 5.5.2 Already authenticated")?;
                    } else if !self.auth_command(&args)? {
                        return Ok(());
                    }
                }
                "MAIL" => {
                    if self.auth.is_none() {
                        let t = self.trailer();
                        self.send(&format!("530 5.7.57 Client not authenticated to send mail. {t}"))?;
                        continue;
                    }
                    let Some(addr) = path_arg(&args, "FROM:") else {
                        self.send("501 5.5.4 Invalid arguments")?;
                        continue;
                    };
                    if let Some(f) = self.shared.lock().ms.take_fault("smtp") {
                        self.shared.log(&format!("microsoft: smtp fault {}", f.kind));
                        let h = self.host.clone();
                        self.send(&format!("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname={h}.namprd05.prod.outlook.com]"))?;
                        continue;
                    }
                    self.from = Some(addr);
                    self.send("250 2.1.0 Sender OK")?;
                }
                "RCPT" => {
                    if self.from.is_none() {
                        self.send("503 5.5.2 Need mail command")?;
                        continue;
                    }
                    match path_arg(&args, "TO:") {
                        Some(a) if mime::valid_address(&a) => {
                            self.rcpts.push(a);
                            self.send("250 2.1.5 Recipient OK")?;
                        }
                        _ => self.send("501 5.1.3 Invalid address")?,
                    }
                }
                "DATA" => {
                    if self.from.is_none() || self.rcpts.is_empty() {
                        self.send("503 5.5.2 Need rcpt command")?;
                        continue;
                    }
                    self.send("354 Start mail input; end with <CRLF>.<CRLF>")?;
                    let mut msg = Vec::new();
                    loop {
                        let Some(l) = self.read_line()? else { return Ok(()) };
                        if l == b".\r\n" || l == b".\n" {
                            break;
                        }
                        let l = if l.first() == Some(&b'.') { &l[1..] } else { &l[..] };
                        msg.extend_from_slice(l);
                    }
                    self.finish(msg)?;
                }
                "BDAT" => {
                    let mut it = args.split_whitespace();
                    let Some(n) = it.next().and_then(|n| n.parse::<usize>().ok()) else {
                        self.send("501 5.5.4 Invalid arguments")?;
                        continue;
                    };
                    let last = it.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
                    let chunk = self.read_exact_n(n)?;
                    if self.from.is_none() || self.rcpts.is_empty() {
                        self.send("503 5.5.2 Need rcpt command")?;
                        continue;
                    }
                    self.bdat.extend_from_slice(&chunk);
                    if last {
                        let msg = std::mem::take(&mut self.bdat);
                        self.finish(msg)?;
                    } else {
                        self.send(&format!("250 2.0.0 {n} bytes received"))?;
                    }
                }
                "RSET" => {
                    self.reset();
                    self.send("250 2.0.0 Resetting")?;
                }
                "NOOP" => self.send("250 2.0.0 OK")?,
                "QUIT" => {
                    self.send("221 2.0.0 Service closing transmission channel")?;
                    return Ok(());
                }
                _ => self.send("500 5.3.3 Unrecognized command")?,
            }
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
        self.bdat.clear();
    }

    /// `Ok(false)`: the client went away.
    fn auth_command(&mut self, args: &str) -> io::Result<bool> {
        let (mech, ir) = match args.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
            None => (args.to_ascii_uppercase(), None),
        };
        let t = self.trailer();
        match mech.as_str() {
            "XOAUTH2" => {}
            "LOGIN" => {
                self.send("334 VXNlcm5hbWU6")?;
                if self.read_line()?.is_none() {
                    return Ok(false);
                }
                self.send("334 UGFzc3dvcmQ6")?;
                if self.read_line()?.is_none() {
                    return Ok(false);
                }
                self.shared.lock().ms.counters.smtp_auth_failed += 1;
                self.send(&format!(
                    "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. {t}"
                ))?;
                return Ok(true);
            }
            _ => {
                self.send(&format!("504 5.7.4 Unrecognized authentication type {t}"))?;
                return Ok(true);
            }
        }
        let data = match ir {
            Some(d) => d,
            None => {
                self.send("334 ")?;
                match self.read_line()? {
                    Some(l) => String::from_utf8_lossy(&l).trim().to_string(),
                    None => return Ok(false),
                }
            }
        };
        let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        let parsed = GeneralPurpose::new(&alphabet::STANDARD, cfg)
            .decode(&data)
            .ok()
            .and_then(|d| crate::smtp::parse_xoauth2(&d));
        let Some((user, token)) = parsed else {
            self.shared.lock().ms.counters.smtp_auth_failed += 1;
            self.send("501 5.5.124 Invalid XOAUTH2 auth data")?;
            return Ok(true);
        };
        let checked = {
            let st = self.shared.lock();
            let now = st.now();
            st.ms.live_access(&token, now).filter(|a| {
                a.resource == OUTLOOK_RESOURCE
                    && a.scopes.iter().any(|s| short(s) == "SMTP.Send")
                    && find_mailbox(&user).is_some_and(|m| MsState::may_act_for(&a.user, m))
            })
        };
        let Some(at) = checked else {
            self.shared.lock().ms.counters.smtp_auth_failed += 1;
            self.shared.log("microsoft: smtp AUTH XOAUTH2 rejected (5.7.3)");
            self.send(&format!("535 5.7.3 Authentication unsuccessful {t}"))?;
            return Ok(true);
        };
        let mailbox = find_mailbox(&user).unwrap_or_default().to_string();
        let disabled = {
            let s = &self.shared.lock().ms.settings;
            let per_mailbox = s
                .smtp_auth_disabled_mailboxes
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&mailbox));
            if per_mailbox {
                Some("Mailbox")
            } else if s.smtp_auth_disabled_tenant && !is_personal(&mailbox) {
                Some("Tenant")
            } else {
                None
            }
        };
        if let Some(scope) = disabled {
            self.shared.lock().ms.counters.smtp_auth_failed += 1;
            self.shared
                .log(&format!("microsoft: smtp AUTH disabled for the {scope}"));
            self.send(&format!("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the {scope}. Visit https://aka.ms/smtp_auth_disabled for more information. {t}"))?;
            return Ok(true);
        }
        self.shared.lock().ms.counters.smtp_auth_ok += 1;
        self.shared
            .log(&format!("microsoft: smtp AUTH XOAUTH2 ok for {mailbox}"));
        self.auth = Some((mailbox, at.user));
        self.send("235 2.7.0 Authentication successful")?;
        Ok(true)
    }

    fn finish(&mut self, msg: Vec<u8>) -> io::Result<()> {
        let (mailbox, token_user) = self.auth.clone().unwrap_or_default();
        let env_from = self.from.clone().unwrap_or_default();
        let h = mime::headers(&msg);
        let header_from = mime::header(&h, "from")
            .first()
            .and_then(|v| mime::addresses(v).ok())
            .and_then(|v| v.into_iter().next());
        let max = self.shared.lock().ms.settings.max_message_bytes;
        if msg.len() > max {
            self.reset();
            let t = self.trailer();
            return self.send(&format!(
                "552 5.3.4 Message size exceeds fixed maximum message size {t}"
            ));
        }
        // Send As: the envelope and header From must be mailboxes the token's account acts for.
        let allowed = |a: &str| find_mailbox(a).is_some_and(|m| MsState::may_act_for(&token_user, m));
        let bad = [Some(env_from.clone()), header_from.clone()]
            .into_iter()
            .flatten()
            .find(|a| !allowed(a));
        if let Some(other) = bad {
            self.reset();
            let h = self.host.clone();
            self.shared.log("microsoft: smtp 554 5.2.252 SendAsDenied");
            return self.send(&format!("554 5.2.252 SendAsDenied; {mailbox} not allowed to send as {other}; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. 0.35250:0A00B384, 1.36674:0A000000, 1.61250:00000000, 1.45378:02000000, 1.44866:00000000, 1.36674:0A000000, 1.61250:00000000, 1.45378:04000000, 16.55847:C0000000 [Hostname={h}.namprd05.prod.outlook.com]"));
        }
        let sender = header_from
            .as_deref()
            .and_then(find_mailbox)
            .unwrap_or(mailbox.as_str())
            .to_string();
        let bcc_header = !mime::header(&h, "bcc").is_empty();
        let extra = json!({"smtp": {"auth_user": mailbox, "token_user": token_user, "bcc_header_present": bcc_header}});
        let d = Delivery {
            transport: "outlook_smtp",
            account: sender,
            envelope_from: env_from,
            envelope_to: self.rcpts.clone(),
            bytes: msg,
            thread_id: None,
            upload_type: None,
            smtp: Some(json!({"port": "starttls", "auth_mechanism": "XOAUTH2"})),
        };
        let h = self.host.clone();
        match mailbox::deliver_with(self.shared, d, Some(("microsoft", extra))) {
            Ok(del) => {
                self.shared.lock().ms.counters.smtp_messages += 1;
                self.send(&format!(
                    "250 2.0.0 OK <{}@{h}.namprd05.prod.outlook.com> [Hostname={h}.namprd05.prod.outlook.com]",
                    del.id
                ))?;
            }
            Err(e) => {
                self.shared.log(&format!("mailbox write failed: {e}"));
                self.send("451 4.3.0 Temporary server error. Please try again later")?;
            }
        }
        self.reset();
        Ok(())
    }
}

fn path_arg(args: &str, prefix: &str) -> Option<String> {
    if !args.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = args[prefix.len()..].trim_start();
    match rest.strip_prefix('<') {
        Some(r) => Some(r[..r.find('>')?].to_string()),
        None => Some(rest.split(' ').next().unwrap_or("").to_string()),
    }
}
