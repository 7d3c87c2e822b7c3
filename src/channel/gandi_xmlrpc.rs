//! XML-RPC (xmlrpc.com/spec) as text, for Gandi's notification API: a `methodCall`
//! with string parameters, a `methodResponse` read back into a [`Value`] or a fault,
//! and what `notification.list` answers. No I/O. Replies are read by the same strict
//! parser as payloads (`extract::xml`): no entity expansion, bounded depth and size.

use crate::extract::xml::{self, Element};
use crate::text::xml_escape;

/// One XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    String(String),
    Double(f64),
    /// `dateTime.iso8601`, as written.
    DateTime(String),
    Base64(String),
    Struct(Vec<(String, Value)>),
    Array(Vec<Value>),
    /// `<nil/>` (an extension some servers use for None).
    Nil,
}

impl Value {
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// What the value is, for messages (`a struct`, `an int`).
    fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "an int",
            Value::Bool(_) => "a boolean",
            Value::String(_) => "a string",
            Value::Double(_) => "a double",
            Value::DateTime(_) => "a dateTime",
            Value::Base64(_) => "base64",
            Value::Struct(_) => "a struct",
            Value::Array(_) => "an array",
            Value::Nil => "nil",
        }
    }
}

/// A fault: the server's own code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: i64,
    pub text: String,
}

/// `methodName(params…)`, every parameter a string (Gandi's API key first).
pub fn call(method: &str, params: &[&str]) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\"?>\n<methodCall>\n<methodName>{}</methodName>\n<params>\n",
        xml_escape(method)
    );
    for p in params {
        body.push_str("<param><value><string>");
        body.push_str(&xml_escape(p));
        body.push_str("</string></value></param>\n");
    }
    body.push_str("</params>\n</methodCall>\n");
    body
}

/// Reads a `methodResponse`: its value, or the fault it carries. An error (text for
/// people) when the body is not an XML-RPC response.
pub fn parse_response(body: &[u8]) -> Result<Result<Value, Fault>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the reply is not UTF-8".to_string())?;
    let (root, _) = xml::parse_document(text.trim_start()).map_err(|e| e.to_string())?;
    if root.name != "methodResponse" {
        return Err(format!(
            "the reply is <{}>, not <methodResponse>",
            root.name
        ));
    }
    if let Some(fault) = root.child("fault") {
        let v = fault
            .child("value")
            .ok_or("<fault> holds no <value>")
            .map_err(str::to_string)
            .and_then(value)?;
        let code = match v.member("faultCode") {
            Some(Value::Int(c)) => *c,
            _ => return Err("the fault has no int faultCode".into()),
        };
        let text = v
            .member("faultString")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok(Err(Fault { code, text }));
    }
    let v = root
        .path(&["params", "param", "value"])
        .ok_or("the response has neither <params><param><value> nor <fault>")?;
    value(v).map(Ok)
}

/// One `<value>` element.
fn value(v: &Element) -> Result<Value, String> {
    let Some(typed) = v.children.first() else {
        // No type element: a string, whitespace and all.
        return Ok(Value::String(v.text.clone()));
    };
    let t = typed.text.trim();
    let bad = |what: &str| format!("<{}> {what}: {t:?}", typed.name);
    Ok(match typed.name.as_str() {
        "int" | "i4" | "i8" => Value::Int(t.parse().map_err(|_| bad("is not an integer"))?),
        "boolean" => match t {
            "1" => Value::Bool(true),
            "0" => Value::Bool(false),
            _ => return Err(bad("is not 0 or 1")),
        },
        "string" => Value::String(typed.text.clone()),
        "double" => Value::Double(t.parse().map_err(|_| bad("is not a number"))?),
        "dateTime.iso8601" => Value::DateTime(t.to_string()),
        "base64" => Value::Base64(t.to_string()),
        "nil" => Value::Nil,
        "struct" => Value::Struct(
            typed
                .children_named("member")
                .map(|m| {
                    let name = m.child("name").map(|n| n.text.clone()).unwrap_or_default();
                    let v = m
                        .child("value")
                        .ok_or_else(|| format!("struct member {name:?} has no <value>"))?;
                    Ok((name, value(v)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        "array" => Value::Array(
            typed
                .child("data")
                .map(|d| d.children_named("value").map(value).collect())
                .transpose()?
                .unwrap_or_default(),
        ),
        other => return Err(format!("unknown XML-RPC type <{other}>")),
    })
}

/// One notification as `notification.list` describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    pub name: String,
    pub active: bool,
    pub channels: Vec<ChannelState>,
}

/// One channel of a notification (`smtp`, `sns`, `irc`, `xmpp`, `sms`) and its status
/// (`active`, `inactive`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelState {
    pub name: String,
    pub status: String,
}

impl Notification {
    /// Whether Gandi sends it on `channel` now (the notification and the channel
    /// active).
    pub fn sends_on(&self, channel: &str) -> bool {
        self.active
            && self
                .channels
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(channel) && c.status == "active")
    }
}

/// `notification.list`'s answer: an array of structs `{name, active, channels:
/// [{name, status}]}`.
pub fn notifications(v: &Value) -> Result<Vec<Notification>, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "notification.list answered {}, not an array",
            v.kind()
        ));
    };
    items
        .iter()
        .map(|item| {
            let name = item
                .member("name")
                .and_then(Value::as_str)
                .ok_or("a notification without a name")?
                .to_string();
            let active = match item.member("active") {
                Some(Value::Bool(b)) => *b,
                _ => return Err(format!("notification {name} has no boolean active")),
            };
            let channels = match item.member("channels") {
                Some(Value::Array(cs)) => cs
                    .iter()
                    .map(|c| ChannelState {
                        name: c
                            .member("name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                        status: c
                            .member("status")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(Notification {
                name,
                active,
                channels,
            })
        })
        .collect()
}

/// `notification.count`'s answer: an int.
pub fn count(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(format!(
            "notification.count answered {}, not an int",
            other.kind()
        )),
    }
}

/// `notification.test`'s answer: a boolean.
pub fn accepted(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "notification.test answered {}, not a boolean",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_escapes_its_parameters() {
        let c = call("notification.test", &["k<&>", "paas.create"]);
        assert!(c.contains("<methodName>notification.test</methodName>"));
        assert!(c.contains("<string>k&lt;&amp;&gt;</string>"));
        assert!(c.contains("<string>paas.create</string>"));
    }

    #[test]
    fn a_list_reply_reads_into_notifications() {
        let body = br#"<?xml version='1.0'?>
<methodResponse><params><param><value><array><data>
<value><struct>
 <member><name>active</name><value><boolean>1</boolean></value></member>
 <member><name>channels</name><value><array><data>
  <value><struct><member><name>name</name><value><string>smtp</string></value></member>
   <member><name>status</name><value>active</value></member></struct></value>
  <value><struct><member><name>name</name><value><string>sns</string></value></member>
   <member><name>status</name><value><string>inactive</string></value></member></struct></value>
 </data></array></value></member>
 <member><name>name</name><value><string>domain.transfer_out</string></value></member>
</struct></value>
</data></array></value></param></params></methodResponse>"#;
        let v = parse_response(body).unwrap().unwrap();
        let n = notifications(&v).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].name, "domain.transfer_out");
        assert!(n[0].sends_on("smtp") && !n[0].sends_on("sns"));
    }

    #[test]
    fn a_fault_keeps_its_code_and_text() {
        let body = b"<?xml version='1.0'?>\n<methodResponse><fault><value><struct>\
<member><name>faultCode</name><value><int>510150</int></value></member>\
<member><name>faultString</name><value><string>Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]</string></value></member>\
</struct></value></fault></methodResponse>";
        let f = parse_response(body).unwrap().unwrap_err();
        assert_eq!(f.code, 510150);
        assert!(f.text.ends_with("[Invalid API key]"));
    }

    #[test]
    fn scalars_and_what_is_not_a_response() {
        let one = |inner: &str| {
            parse_response(
                format!(
                    "<methodResponse><params><param><value>{inner}</value></param></params></methodResponse>"
                )
                .as_bytes(),
            )
            .unwrap()
            .unwrap()
        };
        assert_eq!(count(&one("<i4>23</i4>")), Ok(23));
        assert_eq!(accepted(&one("<boolean>1</boolean>")), Ok(true));
        assert_eq!(one(" two words "), Value::String(" two words ".into()));
        assert!(count(&one("<string>23</string>")).is_err());
        assert!(parse_response(b"<html>502 Bad Gateway</html>").is_err());
        assert!(parse_response(b"not xml").is_err());
        let entity = b"<!DOCTYPE x [<!ENTITY a \"b\">]><methodResponse/>";
        assert!(parse_response(entity).is_err());
    }
}
