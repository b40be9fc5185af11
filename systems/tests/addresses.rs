//! Address labels stay put for a transport's life: a reverse DNS answer that
//! arrives after a transport was exported must not turn its series into new
//! ones (a new series and a stale one, to Prometheus).

mod support;

use std::net::IpAddr;

use ejtimaa_systems::{Core, WorldEvent};

fn series_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("mediasoup_") && l.contains("remote_addr="))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(labels, _)| labels)
                .to_string()
        })
        .collect()
}

fn resolved(ip: [u8; 4], name: Option<&str>) -> WorldEvent {
    WorldEvent::HostnameResolved {
        ip: IpAddr::from(ip),
        hostname: name.map(String::from),
    }
}

#[test]
fn a_late_dns_answer_does_not_change_an_exported_transports_labels() {
    let mut core = Core::default();
    core.apply_all(support::snapshot::demo_world());
    let before = series_lines(core.render());
    assert!(!before.is_empty());
    assert!(before.iter().all(|l| l.contains("remote_addr=\"192.0.2.")));

    core.apply_all([resolved([192, 0, 2, 1], Some("alice.example.org"))]);
    assert_eq!(series_lines(core.render()), before);

    // Withdrawn again (the cache forgets it): still the same.
    core.apply_all([resolved([192, 0, 2, 1], None)]);
    assert_eq!(series_lines(core.render()), before);
}

#[test]
fn a_name_known_when_the_transport_is_exported_is_kept() {
    let mut core = Core::default();
    let mut events = vec![resolved([192, 0, 2, 1], Some("alice.example.org"))];
    events.extend(support::snapshot::demo_world());
    core.apply_all(events);
    let before = series_lines(core.render());
    assert!(
        before
            .iter()
            .any(|l| l.contains("remote_addr=\"alice.example.org:50000\"")),
        "{before:?}"
    );
    core.apply_all([resolved([192, 0, 2, 1], None)]);
    assert_eq!(series_lines(core.render()), before);
}
