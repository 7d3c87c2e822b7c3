//! Stable ids for payloads that carry none (Gandi): SHA-256 over a canonical JSON form,
//! so the same payload gets the same id whatever its encoding, whitespace or key order.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::text::to_hex;

/// `sha256:` + lowercase hex digest of the canonical form of `value`.
pub fn derived_id(value: &Value) -> String {
    let mut hasher = Sha256::new();
    let mut buf = String::new();
    write_canonical(value, &mut buf);
    hasher.update(buf.as_bytes());
    let digest = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    out.push_str(&to_hex(&digest));
    out
}

/// Keys sorted by code point, no whitespace, strings escaped as JSON does (the same
/// bytes as Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)`).
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "é"}});
        let b: Value =
            serde_json::from_str("{ \"a\" : {\"x\":\"é\", \"y\":[1,2]}, \"b\":1 }").unwrap();
        assert_eq!(derived_id(&a), derived_id(&b));
        let mut s = String::new();
        write_canonical(&a, &mut s);
        assert_eq!(s, r#"{"a":{"x":"é","y":[1,2]},"b":1}"#);
    }

    #[test]
    fn matches_python_json_dumps() {
        // python3: hashlib.sha256(json.dumps(v, sort_keys=True, separators=(",", ":"),
        //          ensure_ascii=False).encode()).hexdigest()
        let v = json!({"status": "pending", "domains": "['pizzza.xyz']", "n": null,
                       "ok": true, "name": "Müller\n"});
        assert_eq!(
            derived_id(&v),
            "sha256:321b1f5f41bb66c7608410bead06fb2c57871fa6f56dc756372ec6700c4fccca"
        );
    }
}
