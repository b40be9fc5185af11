//! The `local_addr` and `remote_addr` labels.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use super::options::ExportOptions;
use crate::net::{Endpoint, Host};

/// Appends the unescaped label text for `endpoint`:
/// - `deidentify`: `xx.xx.3.4:port`; IPv6 `[xx:xx:xx:xx:xx:xx:g:h]:port`; names keep
///   their last two labels (`xx.xx.example.org:port`), as the original did;
/// - `numeric`: `ip:port` (`[ip6]:port`), names as they are;
/// - otherwise `name`, the reverse DNS name fixed for this transport's tuple
///   when it was first exported (see [`crate::net::PinnedNames`]), else numeric.
pub fn push_endpoint(
    out: &mut String,
    endpoint: &Endpoint,
    options: &ExportOptions,
    name: Option<&str>,
) {
    let port = endpoint.port;
    match &endpoint.host {
        Host::Ip(ip) if options.deidentify => push_masked_ip(out, *ip, port),
        Host::Name(name) if options.deidentify => {
            let labels: Vec<&str> = name.split('.').collect();
            let keep = labels.len().saturating_sub(2);
            for (i, label) in labels.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(if i < keep { "xx" } else { label });
            }
            let _ = write!(out, ":{port}");
        }
        Host::Ip(ip) => match name.filter(|_| !options.numeric) {
            Some(name) => {
                let _ = write!(out, "{name}:{port}");
            }
            None => {
                let _ = write!(out, "{}", SocketAddr::new(*ip, port));
            }
        },
        Host::Name(name) => {
            let _ = write!(out, "{name}:{port}");
        }
    }
}

fn push_masked_ip(out: &mut String, ip: IpAddr, port: u16) {
    match ip {
        IpAddr::V4(v4) => {
            let [_, _, c, d] = v4.octets();
            let _ = write!(out, "xx.xx.{c}.{d}:{port}");
        }
        IpAddr::V6(v6) => {
            let g = v6.segments();
            let _ = write!(out, "[xx:xx:xx:xx:xx:xx:{:x}:{:x}]:{port}", g[6], g[7]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::MetricsMode;

    fn label(host: Host, port: u16, options: ExportOptions, name: Option<&str>) -> String {
        let mut out = String::new();
        push_endpoint(&mut out, &Endpoint { host, port }, &options, name);
        out
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    const DEIDENTIFY: ExportOptions = ExportOptions {
        deidentify: true,
        numeric: false,
        quiet: false,
        metrics: MetricsMode::Default,
        label_value_max: 128,
    };
    const NUMERIC: ExportOptions = ExportOptions {
        deidentify: false,
        numeric: true,
        quiet: false,
        metrics: MetricsMode::Default,
        label_value_max: 128,
    };
    const NAMES: ExportOptions = ExportOptions {
        deidentify: false,
        numeric: false,
        quiet: false,
        metrics: MetricsMode::Default,
        label_value_max: 128,
    };

    #[test]
    fn deidentify_masks_all_but_the_last_two_parts() {
        let dns = None;
        assert_eq!(
            label(ip("192.0.2.34"), 40000, DEIDENTIFY, dns),
            "xx.xx.2.34:40000"
        );
        assert_eq!(
            label(ip("2001:db8::aa:1:2"), 5, DEIDENTIFY, dns),
            "[xx:xx:xx:xx:xx:xx:1:2]:5"
        );
        assert_eq!(
            label(ip("::1"), 5, DEIDENTIFY, dns),
            "[xx:xx:xx:xx:xx:xx:0:1]:5"
        );
        assert_eq!(
            label(
                Host::Name("media.eu.example.org".into()),
                443,
                DEIDENTIFY,
                dns
            ),
            "xx.xx.example.org:443"
        );
        assert_eq!(
            label(Host::Name("localhost".into()), 1, DEIDENTIFY, dns),
            "localhost:1"
        );
    }

    #[test]
    fn deidentify_wins_over_numeric_and_names() {
        let dns = Some("host.example.org");
        let both = ExportOptions {
            deidentify: true,
            numeric: true,
            quiet: false,
            metrics: MetricsMode::Default,
            label_value_max: 128,
        };
        assert_eq!(label(ip("192.0.2.34"), 1, both, dns), "xx.xx.2.34:1");
        assert_eq!(label(ip("192.0.2.34"), 1, DEIDENTIFY, dns), "xx.xx.2.34:1");
    }

    #[test]
    fn numeric_is_ip_and_port() {
        let dns = Some("host.example.org");
        assert_eq!(
            label(ip("192.0.2.34"), 40000, NUMERIC, dns),
            "192.0.2.34:40000"
        );
        assert_eq!(
            label(ip("2001:db8::1"), 40000, NUMERIC, dns),
            "[2001:db8::1]:40000"
        );
        assert_eq!(
            label(Host::Name("a.example".into()), 7, NUMERIC, dns),
            "a.example:7"
        );
    }

    #[test]
    fn names_are_used_when_fixed() {
        let dns = Some("host.example.org");
        assert_eq!(
            label(ip("192.0.2.34"), 40000, NAMES, dns),
            "host.example.org:40000"
        );
        assert_eq!(
            label(ip("192.0.2.35"), 40000, NAMES, None),
            "192.0.2.35:40000"
        );
    }
}
