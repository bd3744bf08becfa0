//! Where a webhook target may point. A workspace's API key sets the URL, so by default the
//! supervisor refuses to send to its own machine or network: loopback, private (RFC 1918, IPv6
//! unique local), link-local (cloud metadata services live there), shared (100.64/10),
//! unspecified, multicast, broadcast and documentation addresses, IPv4-mapped forms included.
//! The check runs on the addresses a name resolves to at connection time (a DNS answer cannot
//! swap in a private address after the URL was accepted), and on literal IP URLs before
//! sending. `[delivery] allow_private_targets = true` lifts it (a lab, a receiver on the same
//! host).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Whether `ip` is an address of this machine or a private network.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..=127).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The refusal of a URL whose host is a private literal address, if it is one.
pub fn literal_refusal(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    is_private(ip).then(|| refusal(&ip.to_string()))
}

fn refusal(what: &str) -> String {
    format!(
        "{what} is an address of this machine or a private network; the supervisor sends only \
         to public addresses unless [delivery] allow_private_targets = true"
    )
}

/// A DNS resolver for the delivery client that drops private addresses (and fails when
/// nothing public is left).
#[derive(Debug, Default, Clone)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|addr| !is_private(addr.ip()))
                .collect();
            if public.is_empty() {
                let shown = found
                    .first()
                    .map(|a| format!("{host} ({})", a.ip()))
                    .unwrap_or(host);
                return Err(refusal(&shown).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver to install, unless private targets are allowed.
pub fn resolver(allow_private: bool) -> Option<Arc<PublicOnly>> {
    (!allow_private).then(|| Arc::new(PublicOnly))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn literal_urls_are_checked_before_sending() {
        let refused = |url: &str| literal_refusal(&reqwest::Url::parse(url).unwrap());
        assert!(refused("http://127.0.0.1:8090/hook").is_some());
        assert!(refused("http://[::1]/hook").is_some());
        assert!(refused("http://169.254.169.254/latest/meta-data").is_some());
        assert!(refused("https://1.1.1.1/hook").is_none());
        assert!(refused("https://hooks.example.com/x").is_none());
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let error = match PublicOnly.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains("allow_private_targets"), "{error}");
    }
}
