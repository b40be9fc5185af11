//! No client can make a series line grow without bound: with display names
//! and user agents of any length and content, every line the exporter writes
//! stays within [`max_series_len`] of the options it runs with.

mod support;

use ejtimaa_systems::Core;
use ejtimaa_systems::export::max_series_len;
use proptest::prelude::*;
use proptest::test_runner::Config;

use support::strategy::{Step, long_text, scenario_with};

/// The longest series line in `text`, and the line itself.
fn longest_series_line(text: &str) -> (usize, &str) {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| (l.len(), l))
        .max()
        .unwrap_or((0, ""))
}

proptest! {
    #![proptest_config(Config { cases: 200, max_shrink_iters: 500, ..Config::default() })]

    #[test]
    fn no_series_line_is_longer_than_the_bound(
        (options, steps) in scenario_with(40, long_text().boxed())
    ) {
        let mut core = Core::new(options);
        let mut options = options;
        for step in &steps {
            match step {
                Step::Event(e) => core.push(e.clone()),
                Step::Options(o) => {
                    options = *o;
                    core.set_options(options);
                }
            }
            let bound = max_series_len(&options);
            let (len, line) = longest_series_line(core.render());
            prop_assert!(
                len <= bound,
                "a {}-byte line over the bound {} (label_value_max {}): {:.300}",
                len,
                bound,
                options.label_value_max,
                line
            );
        }
    }
}

/// The property above must be able to fail: a name a little longer than the
/// bound, uncut, would break it; cut, the line stays within.
#[test]
fn the_bound_is_tight_enough_to_catch_an_uncut_name() {
    let options = ejtimaa_systems::ExportOptions::default();
    let bound = max_series_len(&options);
    let mut core = Core::new(options);
    let mut events = support::snapshot::demo_world();
    let name = "😀".repeat(bound);
    for e in &mut events {
        if let ejtimaa_systems::WorldEvent::PeerJoined { display_name, .. } = e {
            display_name.clone_from(&name);
        }
    }
    core.apply_all(events);
    let text = core.render();
    assert!(text.contains("display_name=\""), "no stream series");
    let (len, _) = longest_series_line(text);
    assert!(len <= bound, "{len} > {bound}");
    assert!(name.len() > bound, "the name alone would exceed the bound");
}
