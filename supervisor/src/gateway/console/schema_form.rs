//! An input form generated from a node's JSON Schema: one field per top-level property (text,
//! number, checkbox, a select for `enum`, a JSON text area for objects and arrays), required
//! fields marked. The console's script gathers the fields into the node's input object; a
//! schema the generator does not understand gets one JSON text area for the whole input.

use std::fmt::Write as _;

use serde_json::Value;

use super::html::esc;

/// Most properties turned into fields (the rest are left to the JSON area).
const MOST_FIELDS: usize = 64;

/// The fields of a form for `schema` (a JSON Schema text).
pub fn fields(schema: &str) -> String {
    let parsed: Value = serde_json::from_str(schema).unwrap_or(Value::Null);
    let Some(properties) = parsed.get("properties").and_then(Value::as_object) else {
        return whole_input();
    };
    let required: Vec<&str> = parsed
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::new();
    for (name, property) in properties.iter().take(MOST_FIELDS) {
        let is_required = required.contains(&name.as_str());
        let _ = write!(out, "{}", field(name, property, is_required));
    }
    out
}

/// One JSON text area for the whole input.
fn whole_input() -> String {
    "<label>Input (JSON)<textarea data-whole=\"json\" rows=\"6\">{}</textarea></label>".to_string()
}

fn field(name: &str, property: &Value, required: bool) -> String {
    let kind = property.get("type").and_then(Value::as_str).unwrap_or("");
    let title = property
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or(name);
    let description = property
        .get("description")
        .and_then(Value::as_str)
        .map(|d| format!("<small>{}</small>", esc(d)))
        .unwrap_or_default();
    let mark = if required { " *" } else { "" };
    let req = if required { " required" } else { "" };
    let label = format!("{}{mark}", esc(title));
    let attrs = format!("data-field=\"{}\"{req}", esc(name));
    if let Some(options) = property.get("enum").and_then(Value::as_array) {
        let mut select = format!("<select {attrs} data-type=\"json\">");
        if !required {
            select.push_str("<option value=\"\"></option>");
        }
        for option in options {
            let text = option.to_string();
            let shown = option.as_str().map(str::to_string).unwrap_or(text.clone());
            let _ = write!(
                select,
                "<option value=\"{}\">{}</option>",
                esc(&text),
                esc(&shown)
            );
        }
        select.push_str("</select>");
        return format!("<label>{label}{select}{description}</label>");
    }
    let default = property.get("default");
    match kind {
        "boolean" => format!(
            "<label class=\"check\"><input type=\"checkbox\" {attrs} data-type=\"boolean\"{}> {label}</label>{description}",
            if default == Some(&Value::Bool(true)) { " checked" } else { "" }
        ),
        "integer" | "number" => format!(
            "<label>{label}<input type=\"number\" step=\"{}\" {attrs} data-type=\"{kind}\" value=\"{}\">{description}</label>",
            if kind == "integer" { "1" } else { "any" },
            default.map(|d| esc(&d.to_string())).unwrap_or_default()
        ),
        "object" | "array" => format!(
            "<label>{label} (JSON)<textarea rows=\"3\" {attrs} data-type=\"json\">{}</textarea>{description}</label>",
            default.map(|d| esc(&d.to_string())).unwrap_or_default()
        ),
        _ => {
            let input_type = match property.get("format").and_then(Value::as_str) {
                Some("email") => "email",
                _ => "text",
            };
            format!(
                "<label>{label}<input type=\"{input_type}\" {attrs} data-type=\"string\" value=\"{}\">{description}</label>",
                default.and_then(Value::as_str).map(esc).unwrap_or_default()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_schema() {
        let schema = r#"{"type":"object","required":["email"],"properties":{
            "email":{"type":"string","format":"email","title":"E-mail"},
            "points":{"type":"integer","default":3},
            "vip":{"type":"boolean"},
            "tier":{"enum":["gold","silver"]},
            "tags":{"type":"array"},
            "<x>":{"type":"string","description":"<b>"}}}"#;
        let form = fields(schema);
        assert!(
            form.contains("type=\"email\" data-field=\"email\" required"),
            "{form}"
        );
        assert!(form.contains("E-mail *"));
        assert!(form.contains("data-type=\"integer\" value=\"3\""));
        assert!(form.contains("type=\"checkbox\" data-field=\"vip\""));
        assert!(form.contains("<option value=\"&quot;gold&quot;\">gold</option>"));
        assert!(form.contains("data-field=\"tags\" data-type=\"json\""));
        assert!(form.contains("data-field=\"&lt;x&gt;\""));
        assert!(!form.contains("<b>"));
        assert!(fields("not json").contains("data-whole=\"json\""));
    }
}
