//! Route rules: methods, path syntax, duplicates and ambiguous patterns (checked with matchit,
//! the router the gateway uses, so "accepted here" means "routable there").

use std::collections::HashMap;

use convotic_proto::plugin::v1::RouteDef;

use super::check_timeout;

/// Methods a route may use.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

pub(super) fn check(routes: &[RouteDef], problems: &mut Vec<String>) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut routers: HashMap<String, (matchit::Router<usize>, HashMap<String, usize>)> =
        HashMap::new();
    for (i, route) in routes.iter().enumerate() {
        let entry = format!("routes[{i}] ({} {})", route.method, route.path);
        let mut ok = true;
        if !METHODS.contains(&route.method.as_str()) {
            problems.push(format!(
                "{entry}: method must be one of {} (upper case)",
                METHODS.join(", ")
            ));
            ok = false;
        }
        if let Err(message) = validate_route_path(&route.path) {
            problems.push(format!("{entry}: {message}"));
            ok = false;
        }
        check_timeout(&entry, "timeout_ms", route.timeout_ms, problems);
        if !ok {
            continue;
        }
        let pattern = route_pattern_to_matchit(&route.path);
        let key = (route.method.clone(), pattern.clone());
        if let Some(first) = seen.get(&key) {
            problems.push(format!("{entry}: duplicate of routes[{first}]"));
            continue;
        }
        seen.insert(key, i);
        let (router, by_pattern) = routers.entry(route.method.clone()).or_default();
        match router.insert(pattern.clone(), i) {
            Ok(()) => {
                by_pattern.insert(pattern, i);
            }
            Err(matchit::InsertError::Conflict { with }) => {
                let other = by_pattern
                    .get(&with)
                    .map(|j| format!("routes[{j}] ({} {})", routes[*j].method, routes[*j].path))
                    .unwrap_or(with);
                problems.push(format!(
                    "{entry}: ambiguous with {other}: the same requests would match both"
                ));
            }
            Err(e) => problems.push(format!("{entry}: {e}")),
        }
    }
}

/// Checks a route path: starts with `/`; segments are literals or `:name` parameters; no empty,
/// `.` or `..` segments; parameter names unique.
pub fn validate_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("path must start with '/'".into());
    }
    if path.len() > 1024 {
        return Err("path is longer than 1024 characters".into());
    }
    if path == "/" {
        return Ok(());
    }
    let mut params: Vec<&str> = Vec::new();
    for segment in path[1..].split('/') {
        match segment {
            "" => return Err("path has an empty segment ('//' or a trailing '/')".into()),
            "." | ".." => return Err(format!("path segment {segment:?} is not allowed")),
            _ => {}
        }
        if let Some(name) = segment.strip_prefix(':') {
            if !is_param_name(name) {
                return Err(format!(
                    "parameter {segment:?} must be ':' followed by a name of [A-Za-z0-9_] not starting with a digit"
                ));
            }
            if params.contains(&name) {
                return Err(format!("parameter :{name} appears twice"));
            }
            params.push(name);
        } else if let Some(bad) = segment.chars().find(|c| !is_literal_char(*c)) {
            return Err(format!(
                "segment {segment:?} contains {bad:?}; literal segments may use letters, digits and -._~!$&'()+,;=@"
            ));
        }
    }
    Ok(())
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()+,;=@".contains(c)
}

/// `/orders/:orderId` → `/orders/{orderId}` (matchit's syntax).
pub fn route_pattern_to_matchit(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> RouteDef {
        RouteDef {
            method: method.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    fn problems(routes: &[RouteDef]) -> Vec<String> {
        let mut problems = Vec::new();
        check(routes, &mut problems);
        problems
    }

    #[test]
    fn paths() {
        assert!(validate_route_path("/").is_ok());
        assert!(validate_route_path("/orders/:orderId/items").is_ok());
        assert!(validate_route_path("orders").is_err());
        assert!(validate_route_path("/a//b").is_err());
        assert!(validate_route_path("/a/").is_err());
        assert!(validate_route_path("/a/../b").is_err());
        assert!(validate_route_path("/a/:1x").is_err());
        assert!(validate_route_path("/a/:x/:x").is_err());
        assert!(validate_route_path("/a/{x}").is_err());
        assert!(validate_route_path("/a/*").is_err());
        assert!(validate_route_path("/a b").is_err());
    }

    #[test]
    fn duplicates_and_conflicts_name_both_entries() {
        let p = problems(&[route("GET", "/a"), route("GET", "/a")]);
        assert_eq!(p, ["routes[1] (GET /a): duplicate of routes[0]"]);
        let p = problems(&[route("GET", "/o/:id"), route("GET", "/o/:orderId")]);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("routes[1]") && p[0].contains("routes[0] (GET /o/:id)"),
            "{p:?}"
        );
    }

    #[test]
    fn static_beats_param_and_methods_are_separate() {
        let p = problems(&[
            route("GET", "/o/:id"),
            route("GET", "/o/new"),
            route("POST", "/o/:id"),
        ]);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn bad_method_and_path_are_named() {
        let p = problems(&[route("get", "/a"), route("POST", "orders/../x")]);
        assert_eq!(p.len(), 2);
        assert!(p[0].starts_with("routes[0] (get /a): method"));
        assert!(p[1].starts_with("routes[1] (POST orders/../x): path must start"));
    }
}
