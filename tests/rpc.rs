//! `superlance::rpc` against a real supervisord 4.3.0: over its unix socket, over an
//! `[inet_http_server]` with basic auth, and with nothing listening. What the client says is
//! checked against what supervisorctl says about the same supervisord.

use std::time::Duration;

use superlance::rpc::{Client, FaultCode, RpcError, Supervisor};

use crate::common::{eventlistener, wait_until, Supervisord};

const WAIT: Duration = Duration::from_secs(20);

/// alpha traps HUP and says so on stdout; grp holds beta (started) and gamma (not); pool is
/// an event-listener pool that only says READY.
fn fragment() -> String {
    format!(
        "[program:alpha]\n\
         command=sh -c 'trap \"echo got-HUP\" HUP; while true; do sleep 0.1; done'\n\
         startsecs=0\n\
         \n\
         [group:grp]\n\
         programs=beta,gamma\n\
         \n\
         [program:beta]\n\
         command=sleep 1000\n\
         startsecs=0\n\
         \n\
         [program:gamma]\n\
         command=sleep 1000\n\
         autostart=false\n\
         \n\
         {}",
        eventlistener(
            "pool",
            "sh -c 'printf \"READY\\n\"; exec sleep 1000'",
            "TICK_60"
        )
    )
}

fn unix_client(sv: &Supervisord) -> Client {
    Client::new(&sv.unix_url(), None).unwrap_or_else(|e| panic!("{e}"))
}

/// `supervisorctl status`, as (namespec, state) pairs.
fn ctl_status(sv: &Supervisord) -> Vec<(String, String)> {
    sv.ctl(&["status"])
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn process_list_over_the_unix_socket_matches_supervisorctl() {
    let sv = Supervisord::start(&fragment());
    sv.wait_running("alpha", WAIT);
    sv.wait_running("grp:beta", WAIT);
    sv.wait_running("pool", WAIT);
    let mut client = unix_client(&sv);

    let infos = client.get_all_process_info().unwrap();
    let listed: Vec<(String, String)> = infos
        .iter()
        .map(|p| (p.namespec(), p.statename.clone()))
        .collect();
    assert_eq!(listed, ctl_status(&sv));
    assert_eq!(
        listed,
        [
            ("alpha".to_owned(), "RUNNING".to_owned()),
            ("grp:beta".to_owned(), "RUNNING".to_owned()),
            ("grp:gamma".to_owned(), "STOPPED".to_owned()),
            ("pool".to_owned(), "RUNNING".to_owned()),
        ]
    );
    for p in &infos {
        assert_eq!(
            Some(p.pid).filter(|&pid| pid != 0),
            sv.pid(&p.namespec()),
            "{p:?}"
        );
        if p.pid != 0 {
            assert_eq!(
                p.description.split(',').next(),
                Some(&*format!("pid {}", p.pid))
            );
            assert!(p.start > 0 && p.now >= p.start, "{p:?}");
        }
    }
    let gamma = client.get_process_info("grp:gamma").unwrap();
    assert_eq!(
        (gamma.name.as_str(), gamma.group.as_str()),
        ("gamma", "grp")
    );
    assert_eq!((gamma.pid, gamma.state, gamma.start), (0, 0, 0));
    assert_eq!(gamma.description, "Not started");

    assert_eq!(client.get_pid().unwrap(), sv.pid_of_supervisord());
    let state = client.get_state().unwrap();
    assert_eq!((state.code, state.name.as_str()), (1, "RUNNING"));

    // Nothing in the config info marks the pool as a listener; only the default priority
    // differs (supervisor/options.py: -1 for [eventlistener:x], 999 for [program:x]).
    let configs = client.get_all_config_info().unwrap();
    let prio = |name: &str| {
        configs
            .iter()
            .find(|c| c.namespec() == name)
            .map(|c| (c.group_prio, c.inuse))
    };
    assert_eq!(prio("pool"), Some((-1, true)));
    assert_eq!(prio("alpha"), Some((999, true)));
    assert_eq!(prio("grp:gamma"), Some((999, true)));
}

#[test]
fn stop_start_and_signal_act_and_faults_are_typed() {
    let sv = Supervisord::start(&format!(
        "{}\n[group:bad]\nprograms=broken\n\n[program:broken]\ncommand=/nonexistent/cmd\n\
         autostart=false\n",
        fragment()
    ));
    let first = sv.wait_running("alpha", WAIT);
    let mut client = unix_client(&sv);

    // wait=true: the reply comes once the process is stopped.
    client.stop_process("alpha", true).unwrap();
    assert_eq!(sv.state("alpha").as_deref(), Some("STOPPED"));
    let e = client.stop_process("alpha", true).unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::NotRunning), "{e:?}");
    assert_eq!(
        e.to_string(),
        "supervisord refused supervisor.stopProcess: NOT_RUNNING: alpha (fault 70)"
    );

    client.start_process("alpha", true).unwrap();
    let second = sv.pid("alpha").expect("alpha runs again");
    assert_ne!(second, first);
    assert_eq!(client.get_process_info("alpha").unwrap().pid, second);
    let e = client.start_process("alpha", true).unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::AlreadyStarted), "{e:?}");

    let e = client.get_process_info("nosuch").unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::BadName), "{e:?}");
    assert_eq!(
        e.to_string(),
        "supervisord refused supervisor.getProcessInfo: BAD_NAME: nosuch (fault 10)"
    );
    let e = client.stop_process("nosuch", true).unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::BadName), "{e:?}");

    client.signal_process("alpha", "HUP").unwrap();
    assert!(
        wait_until(WAIT, || sv.child_log("alpha", "stdout").contains("got-HUP")),
        "alpha never reported the HUP: {:?}",
        sv.child_log("alpha", "stdout")
    );
    sv.assert_still_running("alpha", second);
    let e = client.signal_process("alpha", "NOSUCHSIG").unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::BadSignal), "{e:?}");

    // A whole group: supervisord answers with one result per process it acted on, and
    // skips those already running.
    client.start_process("grp:*", true).unwrap();
    sv.wait_running("grp:gamma", WAIT);
    client.start_process("grp:*", true).unwrap();
    let e = client.start_process("bad:*", true).unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::NoFile), "{e:?}");
    assert_eq!(
        e.to_string(),
        "supervisord refused supervisor.startProcess: bad:broken: NO_FILE: can't find command \
         '/nonexistent/cmd' (fault 20)"
    );
}

#[test]
fn the_url_supervisord_gives_its_children_works() {
    // What a listener reads from SUPERVISOR_SERVER_URL, straight from a child's environment.
    let sv = Supervisord::start(
        "[program:env]\n\
         command=sh -c 'echo \"url=$SUPERVISOR_SERVER_URL\"; exec sleep 1000'\n\
         startsecs=0\n",
    );
    sv.wait_running("env", WAIT);
    let url = crate::common::poll(WAIT, || {
        let log = sv.child_log("env", "stdout");
        log.lines()
            .find_map(|l| l.strip_prefix("url="))
            .map(str::to_owned)
    })
    .expect("the program printed its SUPERVISOR_SERVER_URL");
    assert_eq!(url, sv.unix_url());
    let mut client = Client::new(&url, None).unwrap();
    assert_eq!(client.get_pid().unwrap(), sv.pid_of_supervisord());
}

#[test]
fn inet_http_server_with_basic_auth() {
    let sv = Supervisord::config(&fragment())
        .inet_http_server("lance", "s3cret")
        .start();
    sv.wait_running("alpha", WAIT);
    let url = sv.inet_url().unwrap();

    let mut client = Client::new(&url, Some(("lance".into(), "s3cret".into()))).unwrap();
    let names: Vec<String> = client
        .get_all_process_info()
        .unwrap()
        .iter()
        .map(|p| p.namespec())
        .collect();
    assert_eq!(names, ["alpha", "grp:beta", "grp:gamma", "pool"]);
    assert_eq!(client.get_pid().unwrap(), sv.pid_of_supervisord());

    let expected = format!(
        "supervisord at {url} refused our login (401 Unauthorized): check SUPERVISOR_USERNAME \
         and SUPERVISOR_PASSWORD (environment= in the [eventlistener:x] section) against the \
         username and password of its http server section"
    );
    for credentials in [Some(("lance".into(), "wrong".into())), None] {
        let mut client = Client::new(&url, credentials).unwrap();
        let e = client.get_all_process_info().unwrap_err();
        assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
        assert_eq!(e.to_string(), expected);
    }
}

#[test]
fn nothing_listening_says_so() {
    let dir = crate::common::tempdir();
    let url = format!("unix://{}/supervisor.sock", dir.path().display());
    let e = Client::new(&url, None).unwrap().get_state().unwrap_err();
    assert!(matches!(e, RpcError::Unreachable { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach supervisord: {url}: no such socket file (is the server running, and \
             is the path right?); check that supervisord runs and that SUPERVISOR_SERVER_URL \
             (or the section's serverurl=) names its [unix_http_server] or [inet_http_server]"
        )
    );

    // A supervisord that has gone, leaving its socket file behind: refused.
    let sv = Supervisord::start("");
    let socket = sv.dir().join("supervisor.sock");
    let stale = dir.path().join("stale.sock");
    std::fs::hard_link(&socket, &stale).unwrap();
    drop(sv);
    let url_stale = format!("unix://{}", stale.display());
    let e = Client::new(&url_stale, None)
        .unwrap()
        .get_pid()
        .unwrap_err();
    assert!(matches!(e, RpcError::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "cannot reach supervisord: {url_stale}: connection refused (nothing listens \
             there: is the server running?)"
        )),
        "{e}"
    );

    let port = crate::common::free_port();
    let e = Client::new(&format!("http://127.0.0.1:{port}"), None)
        .unwrap()
        .get_pid()
        .unwrap_err();
    assert!(matches!(e, RpcError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("connection refused"), "{e}");
}

/// Issue 12, crash context (`--tail`): a program that writes to stderr and exits 3; the
/// context says the status and its last stderr lines, read back from supervisord. A program
/// with `redirect_stderr=true` has its tail read from the stdout log.
#[test]
fn crash_context_has_the_exit_status_and_the_stderr_tail() {
    use superlance::crash_context::gather;
    let sv = Supervisord::start(
        "[program:dies]\n\
         command=sh -c 'echo starting; for i in 1 2 3 4 5; do echo \"err line $i\" >&2; done; exit 3'\n\
         startsecs=0\n\
         autorestart=false\n\
         \n\
         [program:merged]\n\
         command=sh -c 'echo \"to stderr, merged\" >&2; exit 4'\n\
         startsecs=0\n\
         autorestart=false\n\
         redirect_stderr=true\n",
    );
    let mut client = unix_client(&sv);
    for name in ["dies", "merged"] {
        let exited = wait_until(WAIT, || {
            client
                .get_process_info(name)
                .is_ok_and(|p| p.statename == "EXITED")
        });
        assert!(exited, "{name} never EXITED: {}", sv.ctl(&["status"]));
    }
    let lines = gather(&mut client, "dies", None, 3);
    assert_eq!(lines[0], "Exit status: 3", "{lines:#?}");
    assert!(
        lines[1].starts_with("Last 3 lines of stderr (") && lines[1].ends_with("):"),
        "{lines:#?}"
    );
    assert_eq!(
        lines[2..],
        ["| err line 3", "| err line 4", "| err line 5"],
        "{lines:#?}"
    );
    let lines = gather(&mut client, "merged", None, 3);
    assert_eq!(lines[0], "Exit status: 4", "{lines:#?}");
    assert!(
        lines[1].starts_with("Last 1 lines of stdout ("),
        "{lines:#?}"
    );
    assert_eq!(lines[2], "| to stderr, merged", "{lines:#?}");
    // Unreachable supervisord: one line saying why, no error.
    let mut gone = Client::new("unix:///nonexistent/supervisor.sock", None).unwrap();
    let lines = gather(&mut gone, "dies", None, 3);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("Crash context unavailable: "),
        "{lines:#?}"
    );
}
