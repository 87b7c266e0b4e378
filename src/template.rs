//! Message templates (issue 12, the `notify` listener's `--template STATE=TEXT`, as
//! supervisor-discord users have them): a text with `{field}` placeholders filled from a
//! state change. `{{` and `}}` write a brace. An unknown field is refused when the option is
//! read, with the list of the known ones, so that a typo is found at start and not in the
//! middle of an incident.

use std::fmt;

/// The fields a template may name.
pub const FIELDS: [&str; 9] = [
    "program",
    "group",
    "namespec",
    "from_state",
    "to_state",
    "pid",
    "hostname",
    "time",
    "expected",
];

/// The values for one state change; `None` renders as an empty string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub program: String,
    pub group: String,
    pub from_state: String,
    pub to_state: String,
    pub pid: Option<u32>,
    pub hostname: String,
    /// supervisor's asctime of the event.
    pub time: String,
    pub expected: Option<bool>,
}

impl Values {
    fn get(&self, field: Field) -> String {
        match field {
            Field::Program => self.program.clone(),
            Field::Group => self.group.clone(),
            Field::Namespec => format!("{}:{}", self.group, self.program),
            Field::FromState => self.from_state.clone(),
            Field::ToState => self.to_state.clone(),
            Field::Pid => self.pid.map(|p| p.to_string()).unwrap_or_default(),
            Field::Hostname => self.hostname.clone(),
            Field::Time => self.time.clone(),
            Field::Expected => match self.expected {
                Some(true) => "expected".into(),
                Some(false) => "unexpected".into(),
                None => String::new(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Program,
    Group,
    Namespec,
    FromState,
    ToState,
    Pid,
    Hostname,
    Time,
    Expected,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "program" => Field::Program,
            "group" => Field::Group,
            "namespec" => Field::Namespec,
            "from_state" => Field::FromState,
            "to_state" => Field::ToState,
            "pid" => Field::Pid,
            "hostname" => Field::Hostname,
            "time" => Field::Time,
            "expected" => Field::Expected,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    source: String,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Template {
    /// Parse `text`; the error names the problem and, for an unknown field, the known ones.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "{text:?}: '{{' at character {} is not closed (write {{{{ for a brace)",
                            text[..at].chars().count() + 1
                        ));
                    };
                    let name = &rest[..end];
                    let field = Field::parse(name.trim()).ok_or_else(|| {
                        format!(
                            "{text:?}: unknown field {{{name}}}; the fields are {}",
                            FIELDS.map(|f| format!("{{{f}}}")).join(", ")
                        )
                    })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                    // Skip the name and the closing brace.
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(format!(
                        "{text:?}: '}}' at character {} closes nothing (write }}}} for a brace)",
                        text[..at].chars().count() + 1
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template {
            pieces,
            source: text.to_owned(),
        })
    }

    /// The text with every field filled in.
    pub fn render(&self, values: &Values) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&values.get(*f)),
            }
        }
        out
    }
}

/// `STATE=TEXT` as `--template` takes it: the state name (upper case, as supervisord spells
/// it, `PROCESS_STATE_` prefix allowed) and the parsed template.
pub fn parse_state_template(arg: &str) -> Result<(String, Template), String> {
    let (state, text) = arg.split_once('=').ok_or_else(|| {
        format!("{arg:?} is not STATE=TEXT (e.g. FATAL='{{program}} cannot start')")
    })?;
    let state = state.trim().to_ascii_uppercase();
    let state = state
        .strip_prefix("PROCESS_STATE_")
        .unwrap_or(&state)
        .to_owned();
    if state.is_empty() {
        return Err(format!("{arg:?}: no state before '='"));
    }
    Ok((state, Template::parse(text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            program: "web_01".into(),
            group: "web".into(),
            from_state: "STARTING".into(),
            to_state: "FATAL".into(),
            pid: None,
            hostname: "host1".into(),
            time: "2026-12-04 10:00:00,000".into(),
            expected: None,
        }
    }

    #[test]
    fn fields_are_filled() {
        let t = Template::parse(
            ":rotating_light: {program} ({namespec}) went {from_state} -> {to_state} on {hostname} at {time}, pid [{pid}] {{ok}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&values()),
            ":rotating_light: web_01 (web:web_01) went STARTING -> FATAL on host1 at \
             2026-12-04 10:00:00,000, pid [] {ok}"
        );
        let mut v = values();
        v.pid = Some(42);
        v.expected = Some(false);
        assert_eq!(
            Template::parse("{pid} {expected} ünïcode")
                .unwrap()
                .render(&v),
            "42 unexpected ünïcode"
        );
    }

    #[test]
    fn mistakes_are_found_when_parsed() {
        let e = Template::parse("{programm} died").unwrap_err();
        assert!(
            e.contains("unknown field {programm}") && e.contains("{program}"),
            "{e}"
        );
        assert!(Template::parse("{program")
            .unwrap_err()
            .contains("not closed"));
        assert!(Template::parse("a } b")
            .unwrap_err()
            .contains("closes nothing"));
    }

    #[test]
    fn state_templates() {
        let (s, t) = parse_state_template("fatal={program} cannot start").unwrap();
        assert_eq!(s, "FATAL");
        assert_eq!(t.render(&values()), "web_01 cannot start");
        let (s, _) = parse_state_template("PROCESS_STATE_BACKOFF=x=y").unwrap();
        assert_eq!(s, "BACKOFF");
        assert!(parse_state_template("no equals").is_err());
        assert!(parse_state_template("=text").is_err());
    }
}
