//! The console's HTML: escaping (every value from a payload, a header or the store goes
//! through [`esc`]), the page frame with its navigation and its one small style sheet,
//! tables that fold into one column on a phone, links with query strings.

use std::fmt::Write as _;

pub use crate::text::esc;

/// `s` for a URL query value or path segment: everything but unreserved characters
/// percent-encoded.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A link target: `path?k=v&…` with the non-empty parameters, escaped for an attribute.
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    if q.is_empty() {
        esc(path)
    } else {
        esc(&format!("{path}?{}", q.join("&")))
    }
}

/// `<a href>` with escaped text.
pub fn link(target: &str, text: &str) -> String {
    format!("<a href=\"{target}\">{}</a>", esc(text))
}

/// A stored time (RFC 3339 UTC) for people: `2026-11-20 14:30 UTC`.
pub fn when(stamp: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => format!(
            "<time datetime=\"{}\">{}</time>",
            esc(stamp),
            t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC")
        ),
        Err(_) => esc(stamp),
    }
}

/// An optional value, or a dash.
pub fn opt(v: Option<&str>) -> String {
    match v {
        Some(v) if !v.is_empty() => esc(v),
        _ => "<span class=\"muted\">–</span>".into(),
    }
}

/// A state as a coloured word (`dead`, `error` red; `done`, `success` green).
pub fn state(s: &str) -> String {
    let class = match s {
        "dead" | "error" | "failed" | "invalid" | "quarantined" => "bad",
        "retrying" | "pending" | "waiting" => "warn",
        "done" | "success" | "completed" | "parsed" | "ok" | "valid" => "good",
        _ => "",
    };
    format!("<span class=\"state {class}\">{}</span>", esc(s))
}

/// A table of already-rendered cells; on a narrow screen each row becomes a card, each
/// cell labelled with its column.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<div class=\"scroll\"><table class=\"list\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (h, cell) in headers.iter().zip(row) {
            let _ = write!(out, "<td data-label=\"{}\">{cell}</td>", esc(h));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// Label and value pairs (values already rendered).
pub fn fields(pairs: &[(&str, String)]) -> String {
    let mut out = String::from("<dl class=\"fields\">");
    for (k, v) in pairs {
        let _ = write!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    }
    out.push_str("</dl>");
    out
}

/// A POST button: the form carries the CSRF token and the page to come back to.
pub fn button(action: &str, label: &str, csrf: &str, back: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"back\" value=\"{}\"><button type=\"submit\">{}</button></form>",
        esc(action),
        esc(csrf),
        esc(back),
        esc(label)
    )
}

/// What every page needs to know about the request.
pub struct Frame<'a> {
    pub csrf: &'a str,
    /// A login is required (and was given): show the log-out button.
    pub logged_in: bool,
    /// The confirmation of the action just done, if any.
    pub flash: Option<String>,
}

const NAV: &[(&str, &str)] = &[
    ("/", "Needs attention"),
    ("/events", "Events"),
    ("/domains", "Domains"),
    ("/quarantine", "Quarantine"),
    ("/outbox", "Outbox"),
    ("/sources", "Sources"),
    ("/digests", "Digests"),
];

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1d1d1f;--muted:#6b6b6b;--line:#d8d8d8;--bg:#fff;--box:#f4f4f5;--accent:#0b5cad;--bad:#b00020;--good:#1b7f3b;--warn:#8a5a00}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e8;--muted:#a0a0a0;--line:#3a3a3a;--bg:#141414;--box:#1f1f1f;--accent:#7ab8ff;--bad:#ff7b8c;--good:#6bd68f;--warn:#e0b44a}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg)}
header{border-bottom:1px solid var(--line);padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;align-items:center}
header .brand{font-weight:700;color:var(--fg);text-decoration:none}
nav{display:flex;flex-wrap:wrap;gap:.3rem 1rem}
nav a[aria-current=page]{font-weight:700;color:var(--fg)}
main{max-width:76rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 .8rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
a{color:var(--accent)}
.muted{color:var(--muted)}
.state.bad,.bad{color:var(--bad)}.state.good{color:var(--good)}.state.warn{color:var(--warn)}
.state{font-weight:600}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
.scroll{overflow-x:auto}
th{font-weight:600;color:var(--muted);font-size:.85rem;white-space:nowrap;overflow-wrap:normal}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--box);padding:.6rem .8rem;border-radius:4px;font-size:.85rem;max-height:40rem;overflow:auto}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.fields dt{color:var(--muted)}dl.fields dd{margin:0;overflow-wrap:anywhere}
form.inline{display:inline}
.actions{margin:.8rem 0}
button{white-space:nowrap;font:inherit;padding:.25rem .7rem;border:1px solid var(--line);border-radius:4px;background:var(--box);color:var(--fg);cursor:pointer}
form.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(10rem,1fr));gap:.5rem;align-items:end;margin-bottom:1rem}
form.filters label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted)}
input,select{font:inherit;padding:.25rem .4rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg);max-width:100%}
.flash{padding:.5rem .8rem;border-left:4px solid var(--good);background:var(--box);margin-bottom:1rem}
.error{padding:.5rem .8rem;border-left:4px solid var(--bad);background:var(--box);margin-bottom:1rem}
.pager{display:flex;gap:1rem;margin:.8rem 0;flex-wrap:wrap}
.summary{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;padding:0;list-style:none}
figure.chart{margin:.5rem 0 1rem}
figure.chart svg{width:100%;height:5rem;display:block}
figure.chart rect.all,.key.all{fill:var(--line);background:var(--line)}
figure.chart rect.attention,.key.attention{fill:var(--bad);background:var(--bad)}
figure.chart line.axis{stroke:var(--muted);stroke-width:.5}
figure.chart figcaption{display:flex;justify-content:space-between;flex-wrap:wrap;gap:.2rem 1rem;font-size:.8rem;color:var(--muted)}
.key{display:inline-block;width:.7rem;height:.7rem;margin:0 .2rem 0 .5rem;vertical-align:middle}
@media (max-width:40rem){
 main{padding:.6rem}
 dl.fields{grid-template-columns:1fr}dl.fields dd{margin-bottom:.4rem}
 table.list thead{display:none}
 table.list tr{display:block;border-bottom:1px solid var(--line);padding:.3rem 0}
 table.list td{display:block;border:0;padding:.1rem .3rem}
 table.list td::before{content:attr(data-label) ': ';color:var(--muted);font-size:.85rem}
 table.list td[data-label='']::before{content:none}
}";

/// A whole page: title, navigation (with `active` marked), the flash, the body.
pub fn page(title: &str, active: &str, frame: &Frame<'_>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · mailroom</title><style>{STYLE}</style></head><body>\
         <header><a class=\"brand\" href=\"/\">mailroom</a><nav aria-label=\"main\">",
        esc(title)
    );
    for (path, name) in NAV {
        let current = if *path == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{path}\"{current}>{name}</a>");
    }
    if frame.logged_in {
        out.push_str(&button("/logout", "Log out", frame.csrf, "/login"));
    }
    out.push_str("</nav></header><main>");
    if let Some(flash) = &frame.flash {
        let _ = write!(out, "<p class=\"flash\" role=\"status\">{}</p>", esc(flash));
    }
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("a\u{1b}b"), "a\\u{1b}b");
        assert_eq!(esc("line\nnext"), "line\nnext");
    }

    #[test]
    fn links_encode_their_parameters() {
        assert_eq!(
            href("/events", &[("domain", ".de&x=<y>"), ("topic", "")]),
            "/events?domain=.de%26x%3D%3Cy%3E"
        );
        assert_eq!(pct("müller"), "m%C3%BCller");
    }

    #[test]
    fn table_cells_carry_their_labels() {
        let t = table(&["a\"b"], &[vec!["1".into()]]);
        assert!(t.contains("data-label=\"a&quot;b\">1</td>"), "{t}");
    }
}
