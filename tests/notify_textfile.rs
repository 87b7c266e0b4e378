//! --metrics-textfile (issue 14): a notifying listener's delivery figures as a node_exporter
//! textfile, under a real supervisord 4.3.0, with a real SMTP server and a dead webhook.

use std::time::Duration;

use crate::common::prom::{check_metrics, sum};
use crate::common::smtp::SmtpServer;
use crate::common::{free_port, poll, Supervisord};

#[test]
fn crashmail_textfile_shows_mail_delivered_and_the_dead_webhook_queued() {
    let server = SmtpServer::start();
    // Nothing listens there: every attempt is refused, and retried.
    let dead = free_port();
    let sv = Supervisord::start(&format!(
        "[program:crasher]\ncommand=sh -c 'sleep 1; exit 3'\nstartsecs=0\nautorestart=false\n\n\
         [eventlistener:crashmail]\n\
         command=crashmail -a -m ops@example.com --smtp-host {} --smtp-tls none \
         --webhook http://127.0.0.1:{dead}/hook --metrics-textfile %(here)s/crashmail.prom\n\
         events=PROCESS_STATE_EXITED\nstartsecs=0\n",
        server.host_port()
    ));
    let listener = sv.wait_running("crashmail", Duration::from_secs(20));
    let path = sv.dir().join("crashmail.prom");
    let mail = [
        ("listener", "crashmail"),
        ("process", "crashmail"),
        ("channel", "mail"),
    ];
    let hook = [
        ("listener", "crashmail"),
        ("process", "crashmail"),
        ("channel", "webhook"),
    ];
    let with = |l: &[(&'static str, &'static str); 3], k, v| [l[0], l[1], l[2], (k, v)];
    // Written at start: every series at 0, before anything happened.
    let first = poll(Duration::from_secs(10), || {
        std::fs::read_to_string(&path).ok()
    })
    .expect("the textfile is written at start");
    check_metrics(&first);
    assert!(
        first.contains(
            "superlance_notifications_total{listener=\"crashmail\",process=\"crashmail\",channel=\"webhook\",outcome=\"delivered\"} 0\n"
        ),
        "{first}"
    );
    server.wait_for_mails(1, Duration::from_secs(20));
    let text = poll(Duration::from_secs(20), || {
        let t = std::fs::read_to_string(&path).ok()?;
        (sum(
            &t,
            "superlance_notifications_total",
            &with(&mail, "outcome", "delivered"),
        ) == 1
            && sum(&t, "superlance_notification_queue_length", &hook) == 1
            && sum(&t, "superlance_notification_retries_total", &hook) >= 1)
            .then_some(t)
    })
    .unwrap_or_else(|| {
        panic!(
            "the textfile never showed the mail delivered and the webhook's one waiting:\n{}",
            std::fs::read_to_string(&path).unwrap_or_default()
        )
    });
    check_metrics(&text);
    assert_eq!(sum(&text, "superlance_notification_queue_length", &mail), 0);
    assert_eq!(
        sum(
            &text,
            "superlance_notifications_total",
            &with(&hook, "outcome", "delivered")
        ),
        0
    );
    assert!(
        sum(
            &text,
            "superlance_notification_last_success_timestamp_seconds",
            &mail
        ) > 1_700_000_000
    );
    assert!(
        !text.contains("superlance_notification_last_success_timestamp_seconds{listener=\"crashmail\",process=\"crashmail\",channel=\"webhook\"}"),
        "{text}"
    );
    // Stopped: the last write says what became of the webhook's notification (no spool: lost,
    // so failed) and that nothing waits any more.
    sv.assert_listener_up("crashmail", listener);
    sv.ctl(&["stop", "crashmail"]);
    sv.wait_state("crashmail", "STOPPED", Duration::from_secs(20));
    let last = std::fs::read_to_string(&path).expect("the textfile");
    check_metrics(&last);
    assert_eq!(
        sum(
            &last,
            "superlance_notifications_total",
            &with(&hook, "outcome", "failed")
        ),
        1,
        "{last}"
    );
    assert_eq!(
        sum(&last, "superlance_notification_queue_length", &hook),
        0,
        "{last}"
    );
    // Nothing but the textfile in its directory's *.prom: the temp files are gone.
    let stray: Vec<_> = std::fs::read_dir(sv.dir())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".prom."))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
