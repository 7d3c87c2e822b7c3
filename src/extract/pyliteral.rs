//! Python literals (what Gandi sends: `{'status': u'pending', 'ok': True}`) to JSON.
//! A small recursive-descent parser over dicts, lists, tuples, strings (any quote,
//! `u`/`r`/`b` prefixes, adjacent-literal concatenation), numbers, True/False/None.
//! Depth and size are bounded so hostile input fails fast.

use serde_json::{Map, Number, Value};

/// How deep dicts and lists may nest before the payload is refused.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Python literal: {message} at byte {offset}")]
pub struct PyError {
    pub offset: usize,
    pub message: &'static str,
}

/// Parses one literal at the start of `src` (after optional whitespace). Returns the
/// value and how many bytes it used.
pub fn parse_prefix(src: &str) -> Result<(Value, usize), PyError> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        pos: 0,
        depth: 0,
    };
    let v = p.value()?;
    Ok((v, p.pos))
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err<T>(&self, message: &'static str) -> Result<T, PyError> {
        Err(PyError {
            offset: self.pos,
            message,
        })
    }

    fn skip_ws(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'\\' if self.s.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                // Outlook's `&nbsp;` indentation and the like, between tokens.
                0xc2 | 0xe2 | 0xe3 | 0xef => {
                    match super::spaces::unicode_space_len(&self.s[self.pos..]) {
                        0 => break,
                        n => self.pos += n,
                    }
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<Value, PyError> {
        match self.peek() {
            None => self.err("unexpected end of input"),
            Some(b'{') => self.nested(b'}', true),
            Some(b'[') => self.nested(b']', false),
            Some(b'(') => self.nested(b')', false),
            Some(b'\'' | b'"') => self.strings(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                if self.string_prefix_len().is_some() {
                    return self.strings();
                }
                self.word()
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }

    fn nested(&mut self, close: u8, is_dict: bool) -> Result<Value, PyError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.pos += 1; // opening bracket
        let mut map = Map::new();
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unexpected end of input"),
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            if is_dict {
                let key = match self.value()? {
                    Value::String(s) => s,
                    Value::Null => "None".to_string(),
                    other => other.to_string(),
                };
                if self.peek() != Some(b':') {
                    return self.err("expected ':' in dict");
                }
                self.pos += 1;
                let v = self.value()?;
                map.insert(key, v);
            } else {
                items.push(self.value()?);
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                None => return self.err("unexpected end of input"),
                _ => return self.err("expected ',' or a closing bracket"),
            }
        }
        self.depth -= 1;
        Ok(if is_dict {
            Value::Object(map)
        } else {
            Value::Array(items)
        })
    }

    /// Length of a string prefix (`u`, `r`, `b`, `ur`, `rb`, …) directly followed by a quote.
    fn string_prefix_len(&self) -> Option<usize> {
        let rest = &self.s[self.pos..];
        let n = rest
            .iter()
            .take(3)
            .take_while(|c| matches!(c.to_ascii_lowercase(), b'u' | b'r' | b'b'))
            .count();
        matches!(rest.get(n), Some(b'\'' | b'"')).then_some(n)
    }

    /// One string literal, or several adjacent ones concatenated (`'a' 'b'`).
    fn strings(&mut self) -> Result<Value, PyError> {
        let mut out = String::new();
        loop {
            self.one_string(&mut out)?;
            self.skip_ws();
            let next = self.s.get(self.pos).copied();
            let continues = match next {
                Some(b'\'' | b'"') => true,
                Some(c) if c.is_ascii_alphabetic() => self.string_prefix_len().is_some(),
                _ => false,
            };
            if !continues {
                return Ok(Value::String(out));
            }
        }
    }

    fn one_string(&mut self, out: &mut String) -> Result<(), PyError> {
        let prefix = self.string_prefix_len().unwrap_or(0);
        let raw = self.s[self.pos..self.pos + prefix]
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&b'r'));
        self.pos += prefix;
        let quote = self.s[self.pos];
        let triple = self.s.get(self.pos..self.pos + 3) == Some(&[quote, quote, quote][..]);
        self.pos += if triple { 3 } else { 1 };
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return self.err("unterminated string");
            };
            if c == quote {
                if !triple {
                    self.pos += 1;
                    return Ok(());
                }
                if self.s.get(self.pos..self.pos + 3) == Some(&[quote, quote, quote][..]) {
                    self.pos += 3;
                    return Ok(());
                }
            }
            if c == b'\n' && !triple {
                return self.err("line break inside a string");
            }
            if c == b'\\' && !raw {
                self.escape(out)?;
                continue;
            }
            // Copy the run up to the next quote, backslash or line break at once.
            let run = self.s[self.pos..]
                .iter()
                .position(|&b| b == quote || b == b'\\' || b == b'\n')
                .map_or(self.s.len(), |i| self.pos + i)
                .max(self.pos + 1);
            let mut end = run.min(self.s.len());
            while !self.src.is_char_boundary(end) {
                end += 1;
            }
            out.push_str(&self.src[self.pos..end]);
            self.pos = end;
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), PyError> {
        let Some(ch) = self.src[self.pos + 1..].chars().next() else {
            return self.err("unterminated string");
        };
        self.pos += 1 + ch.len_utf8();
        if !ch.is_ascii() {
            // Unknown escapes stay as written, as in Python.
            out.push('\\');
            out.push(ch);
            return Ok(());
        }
        let c = ch as u8;
        let simple = match c {
            b'n' => Some('\n'),
            b't' => Some('\t'),
            b'r' => Some('\r'),
            b'0' => Some('\0'),
            b'a' => Some('\u{7}'),
            b'b' => Some('\u{8}'),
            b'f' => Some('\u{c}'),
            b'v' => Some('\u{b}'),
            b'\\' => Some('\\'),
            b'\'' => Some('\''),
            b'"' => Some('"'),
            b'\n' => return Ok(()),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            return Ok(());
        }
        let digits = match c {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => {
                // Unknown escapes stay as written, as in Python.
                out.push('\\');
                out.push(c as char);
                return Ok(());
            }
        };
        let hex = self.src.get(self.pos..self.pos + digits).ok_or(PyError {
            offset: self.pos,
            message: "truncated escape",
        })?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| PyError {
            offset: self.pos,
            message: "bad escape",
        })?;
        self.pos += digits;
        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        Ok(())
    }

    fn word(&mut self) -> Result<Value, PyError> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.pos += 1;
        }
        match &self.src[start..self.pos] {
            "True" | "true" => Ok(Value::Bool(true)),
            "False" | "false" => Ok(Value::Bool(false)),
            "None" | "null" => Ok(Value::Null),
            _ => {
                self.pos = start;
                self.err("unknown name")
            }
        }
    }

    fn number(&mut self) -> Result<Value, PyError> {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|c| {
            c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'_')
        }) {
            self.pos += 1;
        }
        let text: String = self.src[start..self.pos].replace('_', "");
        // Python 2 long literals: 10L
        if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Ok(Value::Number(n));
        }
        self.pos = start;
        self.err("bad number")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Value {
        parse_prefix(s).unwrap().0
    }

    #[test]
    fn gandi_seed_payload() {
        let v = parse(
            "{'status': 'done',\n 'handle': 'XXXX1234-GANDI',\n 'domains': u\"['pizzza.xyz']\",\n 'ok': True, 'n': None}",
        );
        assert_eq!(
            v,
            json!({"status":"done","handle":"XXXX1234-GANDI","domains":"['pizzza.xyz']","ok":true,"n":null})
        );
    }

    #[test]
    fn strings_numbers_and_tuples() {
        assert_eq!(parse(r#"u'caf\xe9' 'x'"#), json!("caféx"));
        assert_eq!(parse(r"'it\'s'"), json!("it's"));
        assert_eq!(parse(r#"r'\d+'"#), json!("\\d+"));
        assert_eq!(parse("'''a\nb'''"), json!("a\nb"));
        assert_eq!(parse("(1, -2.5, 10L)"), json!([1, -2.5, 10]));
        assert_eq!(parse("[]"), json!([]));
        assert_eq!(parse("{1: 'a'}"), json!({"1": "a"}));
        assert_eq!(parse_prefix("{'a': 1} trailing").unwrap().1, 8);
    }

    #[test]
    fn hostile_input_fails_cleanly() {
        assert!(parse_prefix("{'a': ").is_err());
        assert!(parse_prefix("{'a' 1}").is_err());
        assert!(parse_prefix("'unterminated").is_err());
        assert!(parse_prefix("os.system('x')").is_err());
        assert_eq!(parse("'\\é'"), json!("\\é"));
        let deep = "[".repeat(100_000);
        let e = parse_prefix(&deep).unwrap_err();
        assert_eq!(e.message, "nesting too deep");
    }
}
