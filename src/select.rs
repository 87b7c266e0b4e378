//! Program selection: which supervisord processes a listener acts on. One matcher for every
//! listener (superlance had one per script, and crashmail's was never consulted: superlance
//! #18, #125).
//!
//! - `NAME` matches a process named NAME in any group;
//! - `GROUP:NAME` matches that process of that group (superlance's spelling);
//! - `GROUP:*` matches every process of a group, e.g. the `prog_00`, `prog_01`, ... of a
//!   `numprocs` program (superlance #116);
//! - "any" (`-a`) matches every process and overrides the names.

use clap::{Arg, ArgAction, ArgMatches};

use crate::event::Process;

/// One `-p` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Name(String),
    Member { group: String, name: String },
    Group(String),
}

impl Spec {
    pub fn parse(text: &str) -> Result<Spec, String> {
        let bad = |why: &str| {
            Err(format!(
                "invalid program {text:?}: {why} (expected NAME, GROUP:NAME or GROUP:*)"
            ))
        };
        if text.chars().any(|c| c.is_whitespace() || c == '/') {
            return bad("names contain no spaces or '/'");
        }
        match text.split_once(':') {
            None if text.is_empty() => bad("empty name"),
            None => Ok(Spec::Name(text.to_owned())),
            Some(("", _)) => bad("empty group"),
            Some((_, name)) if name.is_empty() || name.contains(':') => {
                bad("bad name after the group")
            }
            Some((group, "*")) => Ok(Spec::Group(group.to_owned())),
            Some((group, name)) => Ok(Spec::Member {
                group: group.to_owned(),
                name: name.to_owned(),
            }),
        }
    }

    pub fn matches(&self, group: &str, name: &str) -> bool {
        match self {
            Spec::Name(n) => n == name,
            Spec::Member { group: g, name: n } => g == group && n == name,
            Spec::Group(g) => g == group,
        }
    }
}

/// The processes a listener acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    any: bool,
    specs: Vec<Spec>,
    /// Our own process (`group`, `name`): "any" never matches it, a `-p` naming it does. A
    /// listener acting on itself is a surprise (superlance B8: memmon -a restarts itself).
    own: Option<(String, String)>,
}

impl Selection {
    pub fn new(specs: Vec<Spec>, any: bool) -> Selection {
        Selection {
            any,
            specs,
            own: None,
        }
    }

    pub fn any() -> Selection {
        Selection::new(Vec::new(), true)
    }

    /// Exclude our own process from `-a`. supervisord tells every child who it is in
    /// SUPERVISOR_GROUP_NAME and SUPERVISOR_PROCESS_NAME ([`Selection::own_from_env`]).
    pub fn excluding_own(mut self, own: Option<(String, String)>) -> Selection {
        self.own = own;
        self
    }

    /// Our own (group, name) as supervisord set it in the environment, if it did.
    pub fn own_from_env() -> Option<(String, String)> {
        let group = std::env::var("SUPERVISOR_GROUP_NAME").ok()?;
        let name = std::env::var("SUPERVISOR_PROCESS_NAME").ok()?;
        Some((group, name))
    }

    /// Neither `-a` nor `-p` was given. What that means is each listener's choice (crashmail
    /// mails every process, as superlance effectively did; oom_score_adj touches none).
    pub fn is_empty(&self) -> bool {
        !self.any && self.specs.is_empty()
    }

    pub fn matches(&self, group: &str, name: &str) -> bool {
        if self.specs.iter().any(|s| s.matches(group, name)) {
            return true;
        }
        self.any
            && !self
                .own
                .as_ref()
                .is_some_and(|(g, n)| g == group && n == name)
    }

    pub fn matches_process(&self, p: &Process) -> bool {
        self.matches(p.group, p.name)
    }

    /// For log lines: `any process` or the `-p` values.
    pub fn describe(&self) -> String {
        if self.any {
            return "every process".to_owned();
        }
        let names: Vec<String> = self
            .specs
            .iter()
            .map(|s| match s {
                Spec::Name(n) => n.clone(),
                Spec::Member { group, name } => format!("{group}:{name}"),
                Spec::Group(g) => format!("{g}:*"),
            })
            .collect();
        names.join(", ")
    }

    /// Build from the arguments defined by [`program_arg`] and [`any_arg`].
    pub fn from_matches(m: &ArgMatches) -> Selection {
        let specs = m
            .get_many::<Spec>(PROGRAM)
            .map(|v| v.cloned().collect())
            .unwrap_or_default();
        Selection::new(specs, m.get_flag(ANY))
    }
}

pub const PROGRAM: &str = "program";
pub const ANY: &str = "any";

/// `-p/--program NAME`, repeatable. `letter` is `None` for listeners whose superlance version
/// uses `-p` for something else (the batch mailers' password).
pub fn program_arg(letter: Option<char>, help: &'static str) -> Arg {
    let arg = Arg::new(PROGRAM)
        .long("program")
        .value_name("NAME")
        .action(ArgAction::Append)
        .value_parser(Spec::parse)
        .help(help);
    match letter {
        Some(c) => arg.short(c),
        None => arg,
    }
}

/// `-a/--any`.
pub fn any_arg(letter: Option<char>, help: &'static str) -> Arg {
    let arg = Arg::new(ANY)
        .long("any")
        .action(ArgAction::SetTrue)
        .help(help);
    match letter {
        Some(c) => arg.short(c),
        None => arg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(specs: &[&str], any: bool) -> Selection {
        Selection::new(specs.iter().map(|s| Spec::parse(s).unwrap()).collect(), any)
    }

    #[test]
    fn bare_name_matches_in_any_group() {
        let s = sel(&["program1"], false);
        assert!(s.matches("program1", "program1"));
        assert!(s.matches("group1", "program1"));
        assert!(!s.matches("program1", "program2"));
    }

    #[test]
    fn qualified_name_matches_only_its_group() {
        let s = sel(&["group1:program2"], false);
        assert!(s.matches("group1", "program2"));
        assert!(!s.matches("group2", "program2"));
        assert!(!s.matches("program2", "program2"));
    }

    #[test]
    fn group_star_matches_numprocs_members() {
        // superlance #116: a numprocs program is a group of prog_00, prog_01, ...
        let s = sel(&["worker:*"], false);
        assert!(s.matches("worker", "worker_00"));
        assert!(s.matches("worker", "worker_01"));
        assert!(!s.matches("other", "worker_00"));
    }

    #[test]
    fn any_overrides_names() {
        let s = sel(&["a"], true);
        assert!(s.matches("x", "y"));
        assert!(!s.is_empty());
    }

    #[test]
    fn any_skips_our_own_process_unless_named() {
        let own = Some(("pool".to_owned(), "pool_00".to_owned()));
        let s = sel(&[], true).excluding_own(own.clone());
        assert!(!s.matches("pool", "pool_00"));
        assert!(s.matches("pool", "pool_01"));
        assert!(sel(&["pool:*"], true)
            .excluding_own(own)
            .matches("pool", "pool_00"));
    }

    #[test]
    fn empty_selection_matches_nothing() {
        let s = sel(&[], false);
        assert!(s.is_empty());
        assert!(!s.matches("a", "a"));
    }

    #[test]
    fn names_are_exact_not_prefixes() {
        let s = sel(&["web"], false);
        assert!(!s.matches("web2", "web2"));
        assert!(!s.matches("w", "we"));
    }

    #[test]
    fn invalid_specs_are_refused() {
        for bad in ["", ":x", "g:", "a:b:c", "has space", "a/b"] {
            assert!(Spec::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Spec::parse("ünï").unwrap(), Spec::Name("ünï".into()));
    }

    #[test]
    fn describe_lists_specs() {
        assert_eq!(sel(&["a", "g:b", "w:*"], false).describe(), "a, g:b, w:*");
        assert_eq!(sel(&["a"], true).describe(), "every process");
    }
}
