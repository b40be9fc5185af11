//! Server-wide object counts: `Ejtimaa_transports` by type and ICE state,
//! `Ejtimaa_producers` and `Ejtimaa_consumers` by kind and paused state.

use bevy_ecs::prelude::*;

use super::text::{Kind, Value, header, push_value};
use crate::export::escape::push_label;
use crate::media::MediaKind;
use crate::net::{IceState, TransportKind};
use crate::world::{Consumer, Producer, Transport};

pub(super) fn render_objects(
    out: &mut String,
    transports: &Query<&Transport>,
    producers: &Query<&Producer>,
    consumers: &Query<&Consumer>,
) {
    header(
        out,
        "Ejtimaa_transports",
        "Transports by type and ICE state (empty for transports without ICE).",
        Kind::Gauge,
    );
    for kind in TransportKind::ALL {
        let of_kind = || transports.iter().filter(move |t| t.kind == kind);
        if kind == TransportKind::WebRtc {
            for state in IceState::ALL {
                let n = of_kind().filter(|t| t.ice_state == state).count();
                transport_series(out, kind, state.as_str(), n);
            }
        } else {
            let n = of_kind().count();
            if n > 0 {
                transport_series(out, kind, "", n);
            }
        }
    }

    let producers = producers.iter().map(|p| (p.kind, p.paused));
    owner_family(
        out,
        "Ejtimaa_producers",
        "Producers by kind and paused state.",
        producers,
    );
    let consumers = consumers.iter().map(|c| (c.kind, c.paused));
    owner_family(
        out,
        "Ejtimaa_consumers",
        "Consumers by kind and paused state.",
        consumers,
    );
}

fn transport_series(out: &mut String, kind: TransportKind, ice_state: &str, n: usize) {
    out.push_str("Ejtimaa_transports{");
    push_label(out, "transport_type", kind.as_str());
    out.push(',');
    push_label(out, "ice_state", ice_state);
    out.push_str("} ");
    push_value(out, Value::Unsigned(n as u64));
}

fn owner_family(
    out: &mut String,
    name: &str,
    help: &str,
    owners: impl Iterator<Item = (MediaKind, bool)>,
) {
    let mut counts = [[0u64; 2]; 2];
    for (kind, paused) in owners {
        counts[kind as usize][usize::from(paused)] += 1;
    }
    header(out, name, help, Kind::Gauge);
    for kind in MediaKind::ALL {
        for paused in [false, true] {
            out.push_str(name);
            out.push('{');
            push_label(out, "kind", kind.as_str());
            out.push(',');
            push_label(out, "paused", if paused { "true" } else { "false" });
            out.push_str("} ");
            push_value(
                out,
                Value::Unsigned(counts[kind as usize][usize::from(paused)]),
            );
        }
    }
}
