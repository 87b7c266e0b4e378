//! Integration tests: one binary, a module per area and per listener. They drive the real
//! `superlance` executable; the end-to-end ones run a real supervisord 4.3.0 from the venv
//! that `tests/setup.sh` creates.

mod common; // shared helpers: the binary, temp dirs, /proc, a real supervisord; common::pipe drives the binary over pipes
mod compat; // superlance command lines start (issue 16): repeated options (last wins, WARN), abbreviated long options, ignored operands
mod crash_context; // --tail on the listeners that report a process: exit status and stderr lines in the mail and the webhook JSON, a mail saying why when supervisord is unreachable, a batch's context; memmon's and httpok's restart mails with what the process wrote before the restart, essential's before the shutdown; channel-only listeners never mention sendmail
mod crashmail; // crashmail end to end: mails that arrive at a real SMTP server
mod crashmailbatch; // the batch mailer: batches at a real SMTP server, every crash once; the TICK clock; --max-lines and its counts across kill -9
mod crashsms; // short batched lines for SMS gateways, via sendmail and SMTP; --max-lines's short count line
mod dispatch; // multi-call names, --list, --install, help, unknown names
mod entrypoint; // superlance entrypoint: signals passed on, orphans reaped, a recorded failure a non-zero exit
mod essential; // shutting supervisord down when an essential program fails: graceful stop, status file, grace, exclusions, the SIGTERM way
mod fatalmailbatch; // programs that cannot start (FATAL), batched; FATAL states past --max-lines counted
mod generate; // --generate: a man page per listener naming every option, completions for bash/zsh/fish, usage errors
mod httpok; // httpok under a real supervisord: a failing URL restarts its program (new pid) and mails the action log
mod logging; // stderr format, --syslog and reconnecting after the syslog socket is re-created
mod mail; // the mail layer's transports against a real SMTP server
mod malformed; // bad input for every listener: one clear line, exit 1, no hang, nothing on stdout but protocol; odd but well-framed input (not UTF-8, a missing token) accepted with one WARN per kind
mod memmon; // memmon under a real supervisord: restarts (new pids), mails, faults, http with auth
mod metrics; // the Prometheus exporter: counters equal supervisord's log, a crash between scrapes counted, promtool, a real Prometheus, garbage connections
mod notify; // the channels beyond mail end to end: each preset's request shape, retries, Retry-After, a permanent 4xx, a hanging receiver, kill -9 with a spool, a dead channel beside a live one, Alertmanager, --command, secrets kept out of the log
mod notify_listener; // the notify listener under a real supervisord: FATAL in a template's words, --unexpected-only, --tail's exit status and stderr lines, one resolve, a FATAL alert resolved in a real Alertmanager; over pipes: an RPC failure costs the context, not the mail
mod notify_textfile; // --metrics-textfile: crashmail's delivery figures under a real supervisord, a real SMTP server and a dead webhook, checked by promtool
mod oom_score_adj; // the seed listener, over pipes and under a real supervisord
mod protocol; // framing over pipes: exact bytes, bad input, signals, the len trap, invalid UTF-8 (also under a real supervisord)
mod rpc; // the supervisord XML-RPC client against a real supervisord: unix socket, inet with auth, faults
