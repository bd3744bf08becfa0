//! HTML building blocks of the console: escaping, the page layout (navigation, the signed-in
//! role, logout), state badges, times and the small SVG charts. Every value that comes from a
//! module, a request or the store goes through [`esc`].

use std::fmt::Write as _;

use super::session::{Role, Session};

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The pages of the navigation: (path, title).
const NAV: &[(&str, &str)] = &[
    ("/console/", "Modules"),
    ("/console/crons", "Crons"),
    ("/console/workers", "Workers"),
    ("/console/catalog", "Nodes & Blocks"),
    ("/console/delivery", "Delivery"),
    ("/console/deployments", "Deployments"),
    ("/console/cluster", "Cluster"),
];

/// A whole page: head with the embedded stylesheet and script, navigation (with `current`
/// marked), who is signed in, the CSRF token for scripts, and `body`.
pub fn page(title: &str, current: &str, session: &Session, body: &str) -> String {
    let mut nav = String::new();
    for (path, name) in NAV {
        let mark = if *path == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{path}\"{mark}>{name}</a>");
    }
    let who = match &session.role {
        Role::Admin => "admin".to_string(),
        Role::Workspace(ws) => format!("workspace {} (read-only)", esc(ws)),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"csrf-token\" content=\"{csrf}\">\
<title>{title} · Convotic</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
<script defer src=\"/console/assets/console.js\"></script></head><body>\
<header><strong class=\"brand\">Convotic</strong><nav>{nav}</nav>\
<span class=\"who\">{who}</span>\
<form method=\"post\" action=\"/console/logout\" class=\"logout\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>Log out</button></form></header>\
<main><h1>{title}</h1>{body}</main></body></html>",
        csrf = esc(&session.csrf),
        title = esc(title),
    )
}

/// The login page, with `error` shown above the form.
pub fn login_page(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Sign in · Convotic</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head>\
<body class=\"login\"><main><h1>Convotic console</h1>{error}\
<form method=\"post\" action=\"/console/login\">\
<label>Admin token or workspace API key<input type=\"password\" name=\"token\" id=\"token\" \
autocomplete=\"current-password\" required autofocus></label>\
<button type=\"submit\">Sign in</button></form>\
<p class=\"hint\">The admin token is in <code>&lt;data_dir&gt;/admin-token</code>. A workspace \
API key signs in to a read-only view of its workspace.</p></main></body></html>"
    )
}

/// A state badge: colour by state, the state in words.
pub fn state_badge(state: &str) -> String {
    let class = match state {
        "ready" => "ok",
        "starting" | "draining" | "backoff" => "warn",
        "stopped" => "off",
        _ => "bad",
    };
    format!(
        "<span class=\"badge {class}\" data-state=\"{s}\">{s}</span>",
        s = esc(state)
    )
}

/// An outcome badge (`ok`, `failed`, `timeout`, `skipped`, `active`, ...).
pub fn outcome_badge(outcome: &str) -> String {
    let class = match outcome {
        "ok" | "active" | "sent" | "succeeded" => "ok",
        "running" | "deploying" | "skipped" | "superseded" | "missed" => "warn",
        "rolled_back" | "removed" => "off",
        _ => "bad",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(outcome))
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC (`-` for none).
pub fn time(ms: Option<u64>) -> String {
    let Some(ms) = ms else {
        return "-".into();
    };
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A duration in words: `850 ms`, `12 s`, `5 min`, `3 h`, `2 d`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..=9_999 => format!("{ms} ms"),
        10_000..=599_999 => format!("{} s", ms / 1000),
        600_000..=35_999_999 => format!("{} min", ms / 60_000),
        36_000_000..=863_999_999 => format!("{} h", ms / 3_600_000),
        _ => format!("{} d", ms / 86_400_000),
    }
}

/// A small line chart of `values` (None = no data at that point) as inline SVG, with its title
/// and latest value.
pub fn sparkline(title: &str, unit: &str, values: &[Option<f64>]) -> String {
    const W: f64 = 240.0;
    const H: f64 = 48.0;
    let max = values
        .iter()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let step = if values.len() > 1 {
        W / (values.len() - 1) as f64
    } else {
        W
    };
    let mut path = String::new();
    let mut pen_down = false;
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let x = i as f64 * step;
                let y = H - (v / max) * (H - 4.0) - 2.0;
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let latest = values
        .iter()
        .rev()
        .flatten()
        .next()
        .map(|v| format!("{} {unit}", round(*v)))
        .unwrap_or_else(|| "no data".into());
    format!(
        "<figure class=\"chart\"><figcaption>{} <b>{}</b></figcaption>\
<svg viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\">\
<path d=\"{path}\"/></svg><small>max {} {unit}</small></figure>",
        esc(title),
        esc(&latest),
        esc(title),
        round(if max == f64::MIN_POSITIVE { 0.0 } else { max }),
    )
}

/// A number with at most two decimals, trailing zeros dropped.
fn round(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A hidden CSRF field for a form.
pub fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

/// A one-button form posting to `action` (admin sessions only; read-only sessions get
/// nothing).
pub fn action_button(
    session: &Session,
    action: &str,
    label: &str,
    confirm: Option<&str>,
) -> String {
    if !session.role.may_act() {
        return String::new();
    }
    let confirm = confirm
        .map(|c| format!(" data-confirm=\"{}\"", esc(c)))
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\"{confirm}>{}<button>{}</button></form>",
        esc(action),
        csrf_field(session),
        esc(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_urls() {
        assert_eq!(
            esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(url("a b/ç"), "a%20b%2F%C3%A7");
    }

    #[test]
    fn charts_and_durations() {
        let svg = sparkline("req/s", "req/s", &[Some(1.0), None, Some(3.0)]);
        assert!(svg.contains("M0.0,"), "{svg}");
        assert!(svg.contains("<b>3 req/s</b>"), "{svg}");
        assert!(sparkline("x", "", &[]).contains("no data"));
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(65_000), "65 s");
        assert_eq!(time(Some(0)), "1970-01-01 00:00:00");
    }
}
