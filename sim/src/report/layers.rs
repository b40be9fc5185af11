//! Simulcast in the report: delivery per spatial layer, and the consumers
//! receiving below the layer they asked for.

use std::fmt::Write as _;

use serde::Serialize;

use super::percent;
use crate::delivery::{BelowPreferred, DeliveryCounts};

/// Delivery of one spatial layer, over every consumer of a simulcast
/// producer while it was on that layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerReport {
    /// The spatial layer (0: lowest).
    pub layer: u8,
    /// Packets of the layer that should have arrived during the window.
    pub window_expected: u64,
    /// Of those, the ones that did.
    pub window_received: u64,
    /// `window_received / window_expected`.
    pub delivered_ratio: Option<f64>,
}

/// The per-layer lines of a window's counts (empty without simulcast).
pub fn layers(window: Option<&DeliveryCounts>) -> Vec<LayerReport> {
    window
        .map(|w| {
            w.layers
                .iter()
                .map(|(&layer, t)| LayerReport {
                    layer,
                    window_expected: t.expected,
                    window_received: t.received,
                    delivered_ratio: t.ratio(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Consumers below their preferred layer at the window's end.
pub fn below_preferred(window: Option<&DeliveryCounts>) -> Vec<BelowPreferred> {
    window
        .map(|w| w.below_preferred.clone())
        .unwrap_or_default()
}

/// The table's simulcast lines, if there is anything to say.
pub fn lines(layers: &[LayerReport], below: &[BelowPreferred], t: &mut String) {
    if layers.is_empty() && below.is_empty() {
        return;
    }
    let per_layer: Vec<String> = layers
        .iter()
        .map(|l| {
            format!(
                "L{} {} ({} lost)",
                l.layer,
                percent(l.delivered_ratio),
                l.window_expected.saturating_sub(l.window_received)
            )
        })
        .collect();
    let _ = writeln!(
        t,
        "simulcast delivered: {}; below preferred layer: {}",
        if per_layer.is_empty() {
            "-".to_string()
        } else {
            per_layer.join(", ")
        },
        below.len()
    );
    for b in below.iter().take(8) {
        let receiving = b
            .receiving
            .map_or_else(|| "nothing".to_string(), |l| format!("L{l}"));
        let _ = writeln!(
            t,
            "  {} consumer {}: asked for L{}, receiving {}",
            b.subscriber, b.consumer_id, b.preferred, receiving
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Tally;

    #[test]
    fn lines_name_each_layer_and_each_consumer_below() {
        let mut counts = DeliveryCounts::default();
        counts.layers.insert(
            0,
            Tally {
                expected: 200,
                received: 199,
            },
        );
        counts.below_preferred.push(BelowPreferred {
            subscriber: "s1".into(),
            consumer_id: "c9".into(),
            preferred: 2,
            receiving: Some(0),
        });
        let layers = layers(Some(&counts));
        assert_eq!(layers[0].delivered_ratio, Some(0.995));
        let mut t = String::new();
        lines(&layers, &below_preferred(Some(&counts)), &mut t);
        assert!(t.contains("L0 99.50% (1 lost)"), "{t}");
        assert!(t.contains("below preferred layer: 1"), "{t}");
        assert!(
            t.contains("s1 consumer c9: asked for L2, receiving L0"),
            "{t}"
        );
        let mut empty = String::new();
        lines(&[], &[], &mut empty);
        assert!(empty.is_empty());
    }
}
