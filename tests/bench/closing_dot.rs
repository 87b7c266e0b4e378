//! Issue 15: mails per second over SMTP to a server that delays its ACKs, with the message's
//! data and its closing `.` written as lettre writes them (two writes, no TCP_NODELAY) and as
//! superlance's SMTP transport writes them now (one write). `BENCH_ONLY=smtp`.
//!
//! The server is a sink like the crash rows' ([`crate::smtp_session`]) but without their
//! TCP_QUICKACK, so it acknowledges as an ordinary server does: Linux delays the ACK of a
//! segment it has nothing to send back for (up to 40 ms), and the client's Nagle holds a second
//! small write until the first is acknowledged. Three rows, in turns, each N mails of one
//! session each (connect, EHLO, MAIL, RCPT, DATA, data, QUIT):
//! - lettre `SmtpConnection::message`: the data, then `\r\n.\r\n`: the baseline (before);
//! - lettre `SmtpConnection::command` with the dot-stuffed data and its `.` in one string: what
//!   the transport does now (after);
//! - `superlance crashmail --smtp-host SINK` fed N crashes: the real thing, from the first
//!   event to the N-th mail at the sink.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lettre::transport::smtp::client::SmtpConnection;
use lettre::transport::smtp::extension::ClientId;

use crate::{median, ANSWER, READY, STALL};

const MESSAGE: &str = "From: supervisor@example.com\r\nTo: ops@example.com\r\nSubject: cat crashed\r\n\r\nProcess cat in group cat exited unexpectedly (pid 1234) from state RUNNING\r\n";

pub fn bench(superlance: &Path) -> Result<(), String> {
    let mails = crate::env_u64("BENCH_SMTP_MAILS", 50)?;
    let rounds = crate::env_u64("BENCH_ROUNDS", 3)?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("SMTP sink: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("SMTP sink: {e}"))?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    thread::Builder::new()
        .name("smtp-sink-plain".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = crate::smtp_session(stream, &counter, false);
            }
        })
        .map_err(|e| format!("SMTP sink: {e}"))?;
    println!("SMTP sink without TCP_QUICKACK at {addr}; {mails} mails per row and round, {rounds} rounds");
    let mut rows: [(&str, Vec<f64>); 3] = [
        (
            "lettre message(): data, then the closing dot (two writes; before)",
            Vec::new(),
        ),
        (
            "lettre command(): data and closing dot in one write (superlance's transport now)",
            Vec::new(),
        ),
        (
            "superlance crashmail --smtp-host SINK --max-mails 0: N crashes to N mails",
            Vec::new(),
        ),
    ];
    for _ in 0..rounds {
        for (i, (_, rates)) in rows.iter_mut().enumerate() {
            received.store(0, Ordering::Relaxed);
            let t = Instant::now();
            match i {
                0 | 1 => {
                    for _ in 0..mails {
                        send(addr, i == 1)?;
                    }
                }
                _ => crashmail(superlance, addr, mails, &received)?,
            }
            rates.push(mails as f64 / t.elapsed().as_secs_f64());
        }
    }
    println!();
    println!("| row | mails/s (median of {rounds} rounds) | ms per mail |");
    println!("| --- | ---: | ---: |");
    for (label, rates) in &rows {
        let r = median(rates);
        println!("| {label} | {r:.1} | {:.1} |", 1e3 / r);
    }
    let (before, after, real) = (median(&rows[0].1), median(&rows[1].1), median(&rows[2].1));
    println!();
    println!(
        "one write instead of two: {:.1}x the mails/s of lettre's message() against this server; crashmail itself {:.1}x",
        after / before,
        real / before
    );
    Ok(())
}

/// One mail in one session, the data written as lettre's `message` does or in one piece.
fn send(addr: SocketAddr, one_write: bool) -> Result<(), String> {
    let hello = ClientId::Domain("bench.example".into());
    let mut conn = SmtpConnection::connect(addr, Some(STALL), &hello, None, None)
        .map_err(|e| format!("SMTP: {e}"))?;
    let step = |r: Result<_, lettre::transport::smtp::Error>| {
        r.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    };
    step(conn.command("MAIL FROM:<supervisor@example.com>\r\n"))?;
    step(conn.command("RCPT TO:<ops@example.com>\r\n"))?;
    step(conn.command("DATA\r\n"))?;
    if one_write {
        step(conn.command(format!("{MESSAGE}.\r\n")))?;
    } else {
        step(conn.message(MESSAGE.strip_suffix("\r\n").unwrap_or(MESSAGE).as_bytes()))?;
    }
    let _ = conn.quit();
    Ok(())
}

/// crashmail fed `mails` crashes (answered at once), until the sink has them all.
fn crashmail(bin: &Path, addr: SocketAddr, mails: u64, received: &AtomicU64) -> Result<(), String> {
    let mut child = Command::new(bin)
        .args([
            "crashmail",
            "-a",
            "-m",
            "ops@example.com",
            "--max-mails",
            "0",
            "--smtp-tls",
            "none",
            "--smtp-host",
        ])
        .arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", bin.display()))?;
    let (mut stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let mut out = BufReader::new(stdout);
    let mut expect = |want: &[u8]| -> Result<(), String> {
        let mut got = vec![0u8; want.len()];
        std::io::Read::read_exact(&mut out, &mut got).map_err(|e| format!("crashmail: {e}"))?;
        (got == want)
            .then_some(())
            .ok_or_else(|| format!("crashmail said {:?}", String::from_utf8_lossy(&got)))
    };
    expect(READY)?;
    for n in 0..mails {
        let payload = format!(
            "processname:cat groupname:cat from_state:RUNNING expected:0 pid:{}",
            2000 + n
        );
        let frame = format!(
            "ver:3.0 server:supervisor serial:{n} pool:listener poolserial:{n} eventname:PROCESS_STATE_EXITED len:{}\n{payload}",
            payload.len()
        );
        stdin
            .write_all(frame.as_bytes())
            .map_err(|e| format!("crashmail: {e}"))?;
        expect(ANSWER)?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < mails && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    drop(stdin);
    let _ = child.wait();
    let got = received.load(Ordering::Relaxed);
    (got >= mails)
        .then_some(())
        .ok_or_else(|| format!("crashmail: {got} of {mails} mails arrived within 60 s"))
}
