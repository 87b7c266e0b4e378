//! The XML-RPC codec (<http://xmlrpc.com/spec.md>): method calls encoded, method responses
//! and faults decoded. Pure: bytes in, values out.
//!
//! XML itself (tags, entities `&amp;` and `&#233;`, CDATA, comments, the declaration) is
//! quick-xml's pull reader; this module is only the XML-RPC grammar on top of it, about the
//! size of a serde adapter. Why not the `dxr` crate: see docs/dependencies.md.
//!
//! The decoder is built to meet arbitrary bytes (it will be fuzzed): it never panics and
//! never recurses. It walks the events with an explicit stack of open elements, at most
//! [`MAX_DEPTH`] deep, and builds each value when its element closes; memory is bounded by
//! the input's size (which the HTTP layer bounds), a few times over. Anything outside the
//! grammar is an error naming the byte offset: an unknown tag, text where none belongs, two
//! values where one is expected, a bad number, an unknown entity. It accepts what Python's
//! `xmlrpc.client` writes (what supervisord sends): white space between elements, `<int>`,
//! `<i4>` and `<i8>`, `<nil/>`, a `<value>` without a type element (a string).
//!
//! The encoder writes calls the way Python's `xmlrpc.client.dumps` does, line breaks
//! included, so supervisord sees what its own clients send.

use std::collections::BTreeMap;

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

/// The deepest nesting of elements accepted. supervisord's deepest reply
/// (getAllProcessInfo: methodResponse, params, param, value, array, data, value, struct,
/// member, value, string) is 11.
pub const MAX_DEPTH: usize = 64;

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>`, `<i8>`.
    Int(i64),
    Bool(bool),
    String(String),
    Double(f64),
    /// `<dateTime.iso8601>`, as sent (supervisord sends none).
    DateTime(String),
    /// `<base64>`, still encoded (supervisord sends none).
    Base64(String),
    Array(Vec<Value>),
    /// Members by name; a repeated name keeps the last value, as Python's decoder does.
    Struct(BTreeMap<String, Value>),
    /// `<nil/>`, Python's `None` (an extension to the spec that Python writes).
    Nil,
}

impl Value {
    /// The XML-RPC type name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Bool(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
            Value::Nil => "nil",
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

/// A decoded method response: a value, or a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Value(Value),
    Fault { code: i64, string: String },
}

/// Why a response could not be decoded; the text names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

// ---------------------------------------------------------------------------------------------
// encoding

/// A `<methodCall>` document for `method(params...)`.
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for param in params {
        out.push_str("<param>\n");
        encode_value(&mut out, param);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

fn encode_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => out.push_str(&format!("<int>{i}</int>")),
        Value::Bool(b) => out.push_str(if *b {
            "<boolean>1</boolean>"
        } else {
            "<boolean>0</boolean>"
        }),
        Value::String(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::Double(d) => out.push_str(&format!("<double>{d:?}</double>")),
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(s) => {
            out.push_str("<base64>\n");
            escape_into(out, s);
            out.push_str("\n</base64>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for item in items {
                encode_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (name, member) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, name);
                out.push_str("</name>\n");
                encode_value(out, member);
                out.push_str("</member>\n");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>\n");
}

/// What Python's `xmlrpc.client.escape` does: `&`, `<`, `>`.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decoding

/// The scalar type elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Int,
    Bool,
    String,
    Double,
    DateTime,
    Base64,
}

/// An open element and what has been gathered inside it so far.
#[derive(Debug)]
enum Frame {
    Response(Option<Reply>),
    Params(Option<Value>),
    Param(Option<Value>),
    Fault(Option<Value>),
    Value {
        text: String,
        typed: Option<Value>,
    },
    Scalar(Scalar, String),
    Nil,
    Struct(BTreeMap<String, Value>),
    Member {
        name: Option<String>,
        value: Option<Value>,
    },
    Name(String),
    Array(Option<Vec<Value>>),
    Data(Vec<Value>),
}

impl Frame {
    fn tag(&self) -> &'static str {
        match self {
            Frame::Response(_) => "methodResponse",
            Frame::Params(_) => "params",
            Frame::Param(_) => "param",
            Frame::Fault(_) => "fault",
            Frame::Value { .. } => "value",
            Frame::Scalar(Scalar::Int, _) => "int",
            Frame::Scalar(Scalar::Bool, _) => "boolean",
            Frame::Scalar(Scalar::String, _) => "string",
            Frame::Scalar(Scalar::Double, _) => "double",
            Frame::Scalar(Scalar::DateTime, _) => "dateTime.iso8601",
            Frame::Scalar(Scalar::Base64, _) => "base64",
            Frame::Nil => "nil",
            Frame::Struct(_) => "struct",
            Frame::Member { .. } => "member",
            Frame::Name(_) => "name",
            Frame::Array(_) => "array",
            Frame::Data(_) => "data",
        }
    }
}

/// Decode a `<methodResponse>` document.
pub fn decode_response(bytes: &[u8]) -> Result<Reply, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DecodeError(format!(
            "not UTF-8 text (byte {} is invalid)",
            e.valid_up_to()
        ))
    })?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    let mut decoder = Decoder {
        stack: Vec::new(),
        done: None,
    };
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            DecodeError(format!(
                "malformed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        let step = match event {
            Event::Start(tag) => decoder.open(tag.name().as_ref()),
            Event::End(_) => decoder.close(),
            Event::Text(t) => match t.xml10_content() {
                Ok(s) => decoder.text(&s),
                Err(e) => Err(e.to_string()),
            },
            Event::CData(c) => match c.decode() {
                Ok(s) => decoder.text(&s),
                Err(e) => Err(e.to_string()),
            },
            Event::GeneralRef(r) => match entity(&r) {
                Ok(c) => decoder.text(c.encode_utf8(&mut [0; 4])),
                Err(e) => Err(e),
            },
            Event::Eof => match decoder.done.take() {
                Some(reply) => return Ok(reply),
                None => Err("the document ends before </methodResponse>".to_owned()),
            },
            // `<x/>` arrives as Start + End (expand_empty_elements); the declaration, a
            // doctype (whose entities quick-xml never expands), comments and processing
            // instructions carry nothing for us.
            Event::Empty(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::Comment(_)
            | Event::DocType(_) => Ok(()),
        };
        step.map_err(|e| DecodeError(format!("bad XML-RPC at byte {at}: {e}")))?;
    }
}

/// `&name;` or `&#n;`: the five predefined entities and character references. A doctype may
/// declare others; we refuse them rather than expand anything.
fn entity(r: &BytesRef) -> Result<char, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c);
    }
    match r.as_ref() {
        b"amp" => Ok('&'),
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"quot" => Ok('"'),
        b"apos" => Ok('\''),
        other => Err(format!(
            "unknown entity &{};",
            String::from_utf8_lossy(other)
        )),
    }
}

struct Decoder {
    stack: Vec<Frame>,
    /// The reply, once `</methodResponse>` has closed.
    done: Option<Reply>,
}

impl Decoder {
    fn open(&mut self, tag: &[u8]) -> Result<(), String> {
        let name = || String::from_utf8_lossy(tag).into_owned();
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        let frame = match (self.stack.last(), tag) {
            (None, b"methodResponse") if self.done.is_none() => Frame::Response(None),
            (None, _) if self.done.is_some() => {
                return Err(format!("<{}> after the end of the document", name()))
            }
            (None, _) => return Err(format!("<{}> where <methodResponse> belongs", name())),
            (Some(Frame::Response(None)), b"params") => Frame::Params(None),
            (Some(Frame::Response(None)), b"fault") => Frame::Fault(None),
            (Some(Frame::Params(None)), b"param") => Frame::Param(None),
            (Some(Frame::Param(None) | Frame::Fault(None) | Frame::Data(_)), b"value") => {
                Frame::Value {
                    text: String::new(),
                    typed: None,
                }
            }
            (
                Some(Frame::Member {
                    value: None,
                    name: _,
                }),
                b"value",
            ) => Frame::Value {
                text: String::new(),
                typed: None,
            },
            (Some(Frame::Member { name: None, .. }), b"name") => Frame::Name(String::new()),
            (Some(Frame::Value { text, typed: None }), tag) if text.trim().is_empty() => {
                match tag {
                    b"int" | b"i4" | b"i8" => Frame::Scalar(Scalar::Int, String::new()),
                    b"boolean" => Frame::Scalar(Scalar::Bool, String::new()),
                    b"string" => Frame::Scalar(Scalar::String, String::new()),
                    b"double" => Frame::Scalar(Scalar::Double, String::new()),
                    b"dateTime.iso8601" => Frame::Scalar(Scalar::DateTime, String::new()),
                    b"base64" => Frame::Scalar(Scalar::Base64, String::new()),
                    b"nil" => Frame::Nil,
                    b"struct" => Frame::Struct(BTreeMap::new()),
                    b"array" => Frame::Array(None),
                    _ => return Err(format!("unknown value type <{}>", name())),
                }
            }
            (Some(Frame::Struct(_)), b"member") => Frame::Member {
                name: None,
                value: None,
            },
            (Some(Frame::Array(None)), b"data") => Frame::Data(Vec::new()),
            (Some(parent), _) => {
                return Err(format!("unexpected <{}> in <{}>", name(), parent.tag()))
            }
        };
        self.stack.push(frame);
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), String> {
        match self.stack.last_mut() {
            Some(Frame::Value {
                text: t,
                typed: None,
            }) => t.push_str(text),
            Some(Frame::Scalar(_, t) | Frame::Name(t)) => t.push_str(text),
            _ if text.trim().is_empty() => {}
            Some(frame) => return Err(format!("unexpected text in <{}>", frame.tag())),
            None => return Err("text outside <methodResponse>".to_owned()),
        }
        Ok(())
    }

    /// The open element closed (quick-xml checked that its name matches): build what it
    /// stands for and hand it to its parent.
    fn close(&mut self) -> Result<(), String> {
        let frame = self
            .stack
            .pop()
            .ok_or_else(|| "a closing tag without an opening one".to_owned())?;
        let tag = frame.tag();
        let missing = |what: &str| format!("<{tag}> without {what}");
        match frame {
            Frame::Response(reply) => {
                self.done = Some(reply.ok_or_else(|| missing("<params> or <fault>"))?);
            }
            Frame::Params(value) => {
                let value = value.ok_or_else(|| missing("a <param>"))?;
                self.set_parent(Slot::Reply(Reply::Value(value)))?;
            }
            Frame::Param(value) => {
                let value = value.ok_or_else(|| missing("a <value>"))?;
                self.set_parent(Slot::Value(value))?;
            }
            Frame::Fault(value) => {
                let value = value.ok_or_else(|| missing("a <value>"))?;
                self.set_parent(Slot::Reply(fault(&value)?))?;
            }
            Frame::Value { text, typed } => {
                let value = match typed {
                    Some(v) if text.trim().is_empty() => v,
                    Some(_) => return Err("text beside the type element in <value>".to_owned()),
                    None => Value::String(text),
                };
                self.set_parent(Slot::Value(value))?;
            }
            Frame::Scalar(kind, text) => self.set_parent(Slot::Value(scalar(kind, text)?))?,
            Frame::Nil => self.set_parent(Slot::Value(Value::Nil))?,
            Frame::Struct(members) => self.set_parent(Slot::Value(Value::Struct(members)))?,
            Frame::Member { name, value } => {
                let name = name.ok_or_else(|| missing("a <name>"))?;
                let value = value.ok_or_else(|| missing("a <value>"))?;
                match self.stack.last_mut() {
                    Some(Frame::Struct(members)) => {
                        members.insert(name, value);
                    }
                    _ => return Err("<member> outside <struct>".to_owned()),
                }
            }
            Frame::Name(text) => match self.stack.last_mut() {
                Some(Frame::Member { name, .. }) => *name = Some(text),
                _ => return Err("<name> outside <member>".to_owned()),
            },
            Frame::Array(data) => {
                // Python accepts `<array></array>`: an empty array.
                self.set_parent(Slot::Value(Value::Array(data.unwrap_or_default())))?
            }
            Frame::Data(items) => match self.stack.last_mut() {
                Some(Frame::Array(data)) => *data = Some(items),
                _ => return Err("<data> outside <array>".to_owned()),
            },
        }
        Ok(())
    }

    /// Give a finished value (or reply) to the element that holds it. `open` admitted the
    /// child only where its parent had room, so the checks here are a second line.
    fn set_parent(&mut self, slot: Slot) -> Result<(), String> {
        let parent = self.stack.last_mut();
        match (parent, slot) {
            (Some(Frame::Response(reply @ None)), Slot::Reply(r)) => *reply = Some(r),
            (
                Some(
                    Frame::Params(v @ None)
                    | Frame::Param(v @ None)
                    | Frame::Fault(v @ None)
                    | Frame::Member {
                        value: v @ None, ..
                    },
                ),
                Slot::Value(value),
            ) => *v = Some(value),
            (
                Some(Frame::Value {
                    typed: t @ None, ..
                }),
                Slot::Value(value),
            ) => *t = Some(value),
            (Some(Frame::Data(items)), Slot::Value(value)) => items.push(value),
            (Some(parent), _) => return Err(format!("misplaced content in <{}>", parent.tag())),
            (None, _) => return Err("content outside <methodResponse>".to_owned()),
        }
        Ok(())
    }
}

/// What a closed element yields to its parent.
enum Slot {
    Value(Value),
    Reply(Reply),
}

fn scalar(kind: Scalar, text: String) -> Result<Value, String> {
    let bad = |what: &str| format!("bad {what} {:?}", excerpt(&text));
    Ok(match kind {
        Scalar::Int => Value::Int(text.trim().parse().map_err(|_| bad("integer"))?),
        Scalar::Bool => match text.trim() {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            _ => return Err(bad("boolean")),
        },
        Scalar::Double => Value::Double(text.trim().parse().map_err(|_| bad("double"))?),
        Scalar::String => Value::String(text),
        Scalar::DateTime => Value::DateTime(text),
        Scalar::Base64 => Value::Base64(text),
    })
}

/// A `<fault>`'s struct: `faultCode` (int) and `faultString` (string).
fn fault(value: &Value) -> Result<Reply, String> {
    let members = value
        .as_struct()
        .ok_or_else(|| format!("a fault whose value is a {}, not a struct", value.kind()))?;
    let code = members
        .get("faultCode")
        .and_then(Value::as_int)
        .ok_or_else(|| "a fault without an integer faultCode".to_owned())?;
    let string = members
        .get("faultString")
        .and_then(Value::as_str)
        .ok_or_else(|| "a fault without a faultString".to_owned())?;
    Ok(Reply::Fault {
        code,
        string: string.to_owned(),
    })
}

fn excerpt(text: &str) -> String {
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}...")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Reply, DecodeError> {
        decode_response(text.as_bytes())
    }

    fn value(text: &str) -> Value {
        match decode(text) {
            Ok(Reply::Value(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    fn error(text: &str) -> String {
        match decode(text) {
            Err(DecodeError(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn wrap(value: &str) -> String {
        format!(
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n{value}\n</param>\n\
             </params>\n</methodResponse>\n"
        )
    }

    #[test]
    fn calls_are_encoded_as_python_does() {
        // Byte for byte what xmlrpc.client.dumps(('a&b<c>', True), 'supervisor.stopProcess')
        // gives (checked with Python 3.11).
        assert_eq!(
            encode_call("supervisor.stopProcess", &["a&b<c>".into(), true.into()]),
            "<?xml version='1.0'?>\n<methodCall>\n\
             <methodName>supervisor.stopProcess</methodName>\n<params>\n\
             <param>\n<value><string>a&amp;b&lt;c&gt;</string></value>\n</param>\n\
             <param>\n<value><boolean>1</boolean></value>\n</param>\n\
             </params>\n</methodCall>\n"
        );
        assert_eq!(
            encode_call("supervisor.getState", &[]),
            "<?xml version='1.0'?>\n<methodCall>\n\
             <methodName>supervisor.getState</methodName>\n<params>\n</params>\n\
             </methodCall>\n"
        );
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let mut members = BTreeMap::new();
        members.insert("naïve & <odd>".to_owned(), Value::Int(-3));
        members.insert(
            "list".to_owned(),
            Value::Array(vec![Value::Nil, 1.5f64.into_value()]),
        );
        let original = Value::Array(vec![
            Value::Struct(members),
            Value::Bool(false),
            Value::String(String::new()),
            Value::Int(i64::from(i32::MAX) + 1),
        ]);
        let call = encode_call("m", std::slice::from_ref(&original));
        // A call's <params> is a response's: decode it as one.
        let response = call
            .replace(
                "<methodCall>\n<methodName>m</methodName>",
                "<methodResponse>",
            )
            .replace("</methodCall>", "</methodResponse>");
        assert_eq!(value(&response), original);
    }

    trait IntoValue {
        fn into_value(self) -> Value;
    }

    impl IntoValue for f64 {
        fn into_value(self) -> Value {
            Value::Double(self)
        }
    }

    #[test]
    fn a_supervisord_process_list() {
        // As supervisord 4.3.0 sends it (whitespace and all), with entities and UTF-8.
        let v = value(&wrap(
            "<value><array><data>\n<value><struct>\n<member>\n<name>name</name>\n\
             <value><string>caf\u{e9} &amp; \u{4e2d}&#25991;&#x21;</string></value>\n</member>\n\
             <member>\n<name>pid</name>\n<value><int>4242</int></value>\n</member>\n\
             <member>\n<name>spawnerr</name>\n<value><string></string></value>\n</member>\n\
             <member>\n<name>ok</name>\n<value><boolean>1</boolean></value>\n</member>\n\
             </struct></value>\n</data></array></value>",
        ));
        let items = v.as_array().unwrap();
        assert_eq!(items.len(), 1);
        let s = items[0].as_struct().unwrap();
        assert_eq!(s["name"], Value::String("café & 中文!".into()));
        assert_eq!(s["pid"], Value::Int(4242));
        assert_eq!(s["spawnerr"], Value::String(String::new()));
        assert_eq!(s["ok"], Value::Bool(true));
    }

    #[test]
    fn scalars() {
        assert_eq!(value(&wrap("<value><i4> -7 </i4></value>")), Value::Int(-7));
        assert_eq!(
            value(&wrap("<value><i8>9000000000</i8></value>")),
            Value::Int(9_000_000_000)
        );
        assert_eq!(
            value(&wrap("<value><double>2.5</double></value>")),
            Value::Double(2.5)
        );
        assert_eq!(
            value(&wrap("<value>  untyped </value>")),
            Value::String("  untyped ".into())
        );
        assert_eq!(
            value(&wrap("<value></value>")),
            Value::String(String::new())
        );
        assert_eq!(
            value(&wrap("<value><string/></value>")),
            Value::String(String::new())
        );
        assert_eq!(value(&wrap("<value><nil/></value>")), Value::Nil);
        assert_eq!(
            value(&wrap("<value><array></array></value>")),
            Value::Array(vec![])
        );
        assert_eq!(
            value(&wrap(
                "<value><string><![CDATA[<raw> & ]]>x</string></value>"
            )),
            Value::String("<raw> & x".into())
        );
        assert_eq!(
            value(&wrap("<value><string>a\r\nb</string></value>")),
            Value::String("a\nb".into()),
            "line ends are normalized, as expat does"
        );
        assert_eq!(
            value(&wrap(
                "<value><dateTime.iso8601>20250101T00:00:00</dateTime.iso8601></value>"
            )),
            Value::DateTime("20250101T00:00:00".into())
        );
        assert_eq!(
            value(&wrap("<!-- hi --><value><base64>aGk=</base64></value>")),
            Value::Base64("aGk=".into())
        );
    }

    #[test]
    fn faults() {
        let reply = decode(
            "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
             <member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n\
             <member>\n<name>faultString</name>\n<value><string>BAD_NAME: n\u{f6}pe</string>\
             </value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n",
        )
        .unwrap();
        assert_eq!(
            reply,
            Reply::Fault {
                code: 10,
                string: "BAD_NAME: nöpe".into()
            }
        );
        let fault_of = |v: &str| {
            error(&format!(
                "<methodResponse><fault>{v}</fault></methodResponse>"
            ))
        };
        assert!(fault_of("<value><int>1</int></value>").contains("not a struct"));
        assert!(fault_of(
            "<value><struct><member><name>faultString</name><value>x</value></member>\
             </struct></value>"
        )
        .contains("without an integer faultCode"));
        assert!(fault_of(
            "<value><struct><member><name>faultCode</name><value><int>1</int></value>\
             </member></struct></value>"
        )
        .contains("without a faultString"));
    }

    #[test]
    fn garbage_is_an_error_naming_what_and_where() {
        let cases = [
            ("", "ends before </methodResponse>"),
            (
                "<html><body>502 Bad Gateway</body></html>",
                "<html> where <methodResponse>",
            ),
            ("not xml at all", "text outside"),
            (
                "<methodResponse></methodResponse>",
                "without <params> or <fault>",
            ),
            (
                "<methodResponse><params></params></methodResponse>",
                "without a <param>",
            ),
            (
                &wrap("<value><int>12x</int></value>"),
                "bad integer \"12x\"",
            ),
            (
                &wrap("<value><int>99999999999999999999</int></value>"),
                "bad integer",
            ),
            (
                &wrap("<value><boolean>true</boolean></value>"),
                "bad boolean",
            ),
            (&wrap("<value><double>x</double></value>"), "bad double"),
            (
                &wrap("<value><float>1</float></value>"),
                "unknown value type <float>",
            ),
            (
                &wrap("<value><int>1</int><int>2</int></value>"),
                "unexpected <int> in <value>",
            ),
            (
                &wrap("<value>x<int>1</int></value>"),
                "unexpected <int> in <value>",
            ),
            (
                &wrap("<value><int>1</int>x</value>"),
                "unexpected text in <value>",
            ),
            (
                &wrap("<value>1</value><value>2</value>"),
                "unexpected <value> in <param>",
            ),
            (
                &wrap("<value><string>&bogus;</string></value>"),
                "unknown entity &bogus;",
            ),
            (&wrap("<value><string>&#0;</string></value>"), ""),
            (
                &wrap("<value><struct><member><value>1</value></member></struct></value>"),
                "<member> without a <name>",
            ),
            (
                &wrap("<value><struct><member><name>a</name></member></struct></value>"),
                "<member> without a <value>",
            ),
            (
                &wrap("<value><struct>x</struct></value>"),
                "unexpected text in <struct>",
            ),
            (
                &wrap("<value><array><value>1</value></array></value>"),
                "unexpected <value> in <array>",
            ),
            (&wrap("<value><string>x</int></value>"), "malformed XML"),
            ("<methodResponse><params><param><value>x", "ends before"),
            (
                &format!("{}<methodResponse/>", wrap("<value>1</value>")),
                "after the end of the document",
            ),
        ];
        for (text, expected) in cases {
            let e = error(text);
            assert!(e.contains(expected), "{text:?}: {e}");
            assert!(e.contains("byte "), "{text:?}: {e}");
        }
        let e = decode_response(b"<methodResponse>\xff</methodResponse>").unwrap_err();
        assert_eq!(e.to_string(), "not UTF-8 text (byte 16 is invalid)");
    }

    #[test]
    fn nesting_is_bounded() {
        // Arrays: value, array, data per level, inside methodResponse, params, param.
        let nested = |levels: usize| {
            wrap(&format!(
                "{}<value>x</value>{}",
                "<value><array><data>".repeat(levels),
                "</data></array></value>".repeat(levels)
            ))
        };
        let fits = (MAX_DEPTH - 4) / 3;
        assert!(decode(&nested(fits)).is_ok());
        assert!(error(&nested(fits + 1)).contains("nested deeper than 64"));
        // Far deeper than any stack would take if the decoder recursed.
        assert!(error(&nested(200_000)).contains("nested deeper than 64"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic sweep (the fuzzer does the real work): truncations and byte flips
        // of a realistic reply.
        let good = wrap(
            "<value><array><data><value><struct><member><name>a&amp;</name><value><int>1\
             </int></value></member></struct></value><value><nil/></value></data></array>\
             </value>",
        );
        let bytes = good.as_bytes();
        for end in 0..bytes.len() {
            let _ = decode_response(&bytes[..end]);
        }
        for i in 0..bytes.len() {
            for b in [0u8, b'<', b'>', b'/', b'&', b';', b'#', b'x', 0xc3, 0xff] {
                let mut copy = bytes.to_vec();
                copy[i] = b;
                let _ = decode_response(&copy);
            }
        }
    }
}
