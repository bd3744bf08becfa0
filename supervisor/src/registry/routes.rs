//! A module's route table, built from its manifest when an instance becomes ready: one matchit
//! router per method, so a path that matches under other methods answers 405 with `Allow`, and
//! static segments beat parameters.

use std::collections::BTreeMap;
use std::time::Duration;

use convotic_proto::plugin::v1::{AuthMode, RouteDef};

use crate::protocol::validate::route_pattern_to_matchit;

/// One route of a module.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// Upper-case method.
    pub method: String,
    /// The registered pattern, e.g. `/orders/:orderId`.
    pub pattern: String,
    /// Whether callers need an API key.
    pub requires_key: bool,
    /// Deadline (None = the server default).
    pub timeout: Option<Duration>,
    /// Body limit (None = the server default).
    pub max_body_bytes: Option<u64>,
}

/// What a request matched.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A route, with its decoded parameters.
    Found(&'a RouteEntry, BTreeMap<String, String>),
    /// The path exists under other methods.
    MethodNotAllowed(Vec<String>),
    /// Nothing matches the path.
    NotFound,
}

/// The routes of one manifest.
#[derive(Debug, Default)]
pub struct RouteTable {
    routers: BTreeMap<String, matchit::Router<usize>>,
    entries: Vec<RouteEntry>,
}

impl RouteTable {
    /// Builds the table; routes the manifest validation accepted never conflict, so a route
    /// that cannot be inserted is skipped (and logged).
    pub fn new(routes: &[RouteDef]) -> Self {
        let mut table = RouteTable::default();
        for route in routes {
            let index = table.entries.len();
            let router = table.routers.entry(route.method.clone()).or_default();
            if let Err(e) = router.insert(route_pattern_to_matchit(&route.path), index) {
                tracing::warn!(method = %route.method, path = %route.path, "route skipped: {e}");
                continue;
            }
            table.entries.push(RouteEntry {
                method: route.method.clone(),
                pattern: route.path.clone(),
                requires_key: route.auth != AuthMode::None as i32,
                timeout: (route.timeout_ms > 0)
                    .then(|| Duration::from_millis(route.timeout_ms.into())),
                max_body_bytes: (route.max_body_bytes > 0).then_some(route.max_body_bytes),
            });
        }
        table
    }

    /// Whether any route is reachable without an API key.
    pub fn has_public_routes(&self) -> bool {
        self.entries.iter().any(|e| !e.requires_key)
    }

    /// Matches `method` and a path that is still percent-encoded (as received); parameter
    /// values are percent-decoded. `Err` names a parameter that is not valid UTF-8.
    pub fn lookup(&self, method: &str, raw_path: &str) -> Result<Lookup<'_>, String> {
        if let Some(router) = self.routers.get(method) {
            if let Ok(matched) = router.at(raw_path) {
                let entry = &self.entries[*matched.value];
                let mut params = BTreeMap::new();
                for (name, value) in matched.params.iter() {
                    let decoded = percent_decode(value).ok_or_else(|| {
                        format!("path parameter :{name} is not valid UTF-8 after percent-decoding")
                    })?;
                    params.insert(name.to_string(), decoded);
                }
                return Ok(Lookup::Found(entry, params));
            }
        }
        let allowed: Vec<String> = self
            .routers
            .iter()
            .filter(|(m, router)| m.as_str() != method && router.at(raw_path).is_ok())
            .map(|(m, _)| m.clone())
            .collect();
        if allowed.is_empty() {
            Ok(Lookup::NotFound)
        } else {
            Ok(Lookup::MethodNotAllowed(allowed))
        }
    }
}

/// Percent-decodes `s`; None when the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, auth: AuthMode) -> RouteDef {
        RouteDef {
            method: method.into(),
            path: path.into(),
            auth: auth as i32,
            ..Default::default()
        }
    }

    fn table() -> RouteTable {
        RouteTable::new(&[
            route("GET", "/orders/:orderId", AuthMode::Unspecified),
            route("GET", "/orders/new", AuthMode::ApiKey),
            route("POST", "/webhook/external", AuthMode::None),
            route("DELETE", "/orders/:orderId", AuthMode::ApiKey),
        ])
    }

    #[test]
    fn params_are_decoded_and_static_wins() {
        let table = table();
        match table.lookup("GET", "/orders/a%20b").unwrap() {
            Lookup::Found(entry, params) => {
                assert_eq!(entry.pattern, "/orders/:orderId");
                assert!(entry.requires_key);
                assert_eq!(params["orderId"], "a b");
            }
            other => panic!("{other:?}"),
        }
        match table.lookup("GET", "/orders/new").unwrap() {
            Lookup::Found(entry, params) => {
                assert_eq!(entry.pattern, "/orders/new");
                assert!(params.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_methods_give_allow() {
        let table = table();
        match table.lookup("PUT", "/orders/7").unwrap() {
            Lookup::MethodNotAllowed(allowed) => assert_eq!(allowed, ["DELETE", "GET"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            table.lookup("GET", "/nothing").unwrap(),
            Lookup::NotFound
        ));
        assert!(table.has_public_routes());
    }

    #[test]
    fn invalid_utf8_parameters_are_refused() {
        assert!(table().lookup("GET", "/orders/%ff").is_err());
        assert_eq!(percent_decode("a%2Fb%"), Some("a/b%".into()));
        assert_eq!(percent_decode("%e2%82%ac"), Some("€".into()));
    }
}
