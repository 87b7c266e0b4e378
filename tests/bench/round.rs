//! One round: every variant spawned and fed its share of events in turns, then ended; and
//! the time to a first READY.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::*;

/// The figures of one variant in one round.
pub(crate) struct RunFigures {
    pub(crate) events_per_s: f64,
    /// From wait4 (the whole life, reaped children included); for a mailing listener, its
    /// own threads' CPU up to its last answer instead (see [`proc_cpu`]).
    pub(crate) cpu: Duration,
    pub(crate) hwm_kib: u64,
    pub(crate) maxrss_kib: u64,
    /// Mailing rows: mails that reached the sink during the row's turns, and after its last
    /// answer (the queue delivered at end of input).
    pub(crate) mails: Option<(u64, u64)>,
}

/// The events of chunk `c` (of `chunks`) for a variant that takes `turns` turns of `count`
/// events in all, spread evenly over the chunks; 0 in chunks where it has no turn.
pub(crate) fn share(count: u64, c: u64, turns: u64, chunks: u64) -> u64 {
    let turns = turns.clamp(1, chunks);
    let (from, to) = (c * turns / chunks, (c + 1) * turns / chunks);
    count * to / turns - count * from / turns
}

/// One round: every variant spawned, `counts[i]` events fed to variant `i` in `chunks` turns
/// (order alternating; a mailing row in `crash_turns` longer ones, see
/// docs/performance.md), then every variant ended cleanly. For the action row, `target` is
/// the child whose score the listener sets; the bench resets it to 0 before each event,
/// outside the timed round trip, so that every event takes the write path. A mailing
/// listener is stopped between its turns ([`Running::pause`]) and counts its mails in
/// `sinks`.
pub(crate) fn round(
    variants: &[Variant],
    counts: &[u64],
    chunks: u64,
    crash_turns: u64,
    target: u32,
    dog: &Watchdog,
    sinks: &Sinks,
) -> Result<Vec<RunFigures>, String> {
    // Declared before `live`, so dropped after it: every listener is gone when it stops.
    let serving = match (
        &sinks.smtp,
        variants.iter().any(|v| v.kind == Kind::CrashSmtp),
    ) {
        (Some(smtp), true) => Some(smtp.serve()?),
        _ => None,
    };
    let serving_channels = match (
        &sinks.channels,
        variants.iter().any(|v| v.kind == Kind::CrashChannels),
    ) {
        (Some(c), true) => Some(c.serve()?),
        _ => None,
    };
    sinks.reset()?;
    let mut live = Vec::with_capacity(variants.len());
    for v in variants {
        let mut r = Running::spawn(v, dog)?;
        r.expect(READY)?;
        live.push(r);
    }
    let mut frames = Frames {
        frame: Vec::with_capacity(256),
        payload: Vec::with_capacity(128),
    };
    for c in 0..chunks {
        let mut order: Vec<usize> = (0..variants.len()).collect();
        if c % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let r = &mut live[i];
            let kind = variants[i].kind;
            let action = kind == Kind::Action;
            r.dog.arm(r.pid);
            let turns = if kind.mails() { crash_turns } else { chunks };
            let share = share(counts[i], c, turns, chunks);
            if share == 0 {
                continue;
            }
            if kind.mails() {
                r.resume()?;
            }
            for _ in 0..share {
                let n = r.events;
                let pid = if action {
                    if let Err(e) = set_score(target, 0) {
                        return Err(r.fail(format!("resetting the score of {target}: {e}")));
                    }
                    target
                } else {
                    // Plausible pids of programs that come and go.
                    2000 + (n * 7919 % 60000) as u32
                };
                r.event(frames.make(kind.shape(), n, pid))?;
            }
            if kind.mails() {
                r.pause()?;
            }
        }
    }
    // What the turns did, read while every listener waits for its next event.
    let mut taken = Vec::with_capacity(live.len());
    for (v, r) in variants.iter().zip(&mut live) {
        if v.kind == Kind::Action {
            match score(target) {
                Ok(SCORE) => {}
                other => {
                    return Err(r.fail(format!(
                        "after its last event /proc/{target}/oom_score_adj reads {other:?}, not {SCORE}"
                    )))
                }
            }
        }
        // See docs/performance.md for why wait4's ru_maxrss alone is not enough.
        let hwm_kib = vm_hwm_kib(r.pid).unwrap_or(0);
        let (cpu, mails) = if v.kind.mails() {
            let cpu = proc_cpu(r.pid);
            let mails = sinks.count(v.kind);
            r.resume()?;
            (cpu, Some((mails, 0)))
        } else {
            (None, None)
        };
        // End of input for all at once: the mailing listeners deliver their queues
        // together (up to the 5 s grace each), not one after the other.
        r.stdin = None;
        taken.push((r.events, r.busy, hwm_kib, cpu, mails));
    }
    let mut figures = Vec::with_capacity(live.len());
    for (r, (events, busy, hwm_kib, cpu, mails)) in live.into_iter().zip(taken) {
        let end = r.finish()?;
        figures.push(RunFigures {
            events_per_s: events as f64 / busy.as_secs_f64(),
            cpu: cpu.unwrap_or(end.cpu),
            hwm_kib,
            maxrss_kib: end.maxrss_kib,
            mails,
        });
    }
    drop(serving);
    drop(serving_channels);
    for (v, f) in variants.iter().zip(&mut figures) {
        if let Some((during, after)) = f.mails.as_mut() {
            *after = sinks.count(v.kind).saturating_sub(*during);
        }
    }
    Ok(figures)
}

/// Spawn → `READY\n` read; then end it cleanly. Also returns the CPU time the child used.
pub(crate) fn first_ready(v: &Variant, dog: &Watchdog) -> Result<(Duration, Duration), String> {
    let t = Instant::now();
    let mut child = Running::spawn(v, dog)?;
    child.expect(READY)?;
    let took = t.elapsed();
    let end = child.finish()?;
    Ok((took, end.cpu))
}

/// `sleep 600`, our child: the target of the action row. Killed and reaped on drop.
pub(crate) struct Sleeper(pub(crate) Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
