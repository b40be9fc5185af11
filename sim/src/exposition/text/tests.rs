use std::collections::BTreeMap;

use openmetrics_parser::{PrometheusValue, prometheus::parse_prometheus};

use super::*;

fn one(text: &str) -> Series {
    let mut read = samples(text).unwrap();
    assert_eq!(read.series.len(), 1, "{text}");
    read.series.remove(0)
}

fn error(text: &str) -> String {
    match samples(text) {
        Ok(read) => panic!("{text:?} read as {:?}", read.series),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_names_labels_values_and_timestamps() {
    let s = one("a_b:c{x=\"1\",y=\"two\"} 3.5 1700000000000\n");
    assert_eq!(&*s.name, "a_b:c");
    assert_eq!(s.label("x"), "1");
    assert_eq!(s.label("y"), "two");
    assert_eq!(s.value, 3.5);
    assert_eq!(one("up 1").value, 1.0);
    assert_eq!(one("up{} 2").value, 2.0);
    assert_eq!(one("up{a=\"b\",} -0.25e2").value, -25.0);
    assert_eq!(one("up{ a=\"b\" } 7").label("a"), "b");
}

#[test]
fn undoes_the_three_escapes_and_keeps_everything_else() {
    let s = one(r#"m{v="a\\b\"c\nd,e}f=g ü"} 1"#);
    assert_eq!(s.label("v"), "a\\b\"c\nd,e}f=g ü");
}

#[test]
fn reads_special_values() {
    assert!(one("m NaN").value.is_nan());
    assert_eq!(one("m +Inf").value, f64::INFINITY);
    assert_eq!(one("m -Inf").value, f64::NEG_INFINITY);
}

#[test]
fn declared_families_are_kept_without_samples() {
    let read = samples("# HELP a An a.\n# TYPE a counter\n# TYPE b gauge\nb 1\n# just a comment\n")
        .unwrap();
    assert_eq!(read.declared.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(read.series.len(), 1);
}

#[test]
fn malformed_lines_are_errors_that_say_where() {
    for (text, why) in [
        ("ok 1\n9bad 1", "line 2: bad metric name"),
        ("m{9=\"x\"} 1", "bad label name"),
        ("m{a=x} 1", "not quoted"),
        ("m{a=\"x} 1", "not closed"),
        ("m{a=\"x\\t\"} 1", "bad escape"),
        ("m{a=\"x\",a=\"y\"} 1", "label given twice (a)"),
        ("m{a=\"x\" b=\"y\"} 1", "not separated by commas"),
        ("m{a} 1", "label without a value"),
        ("m", "no value"),
        ("m{a=\"x\"}", "no value"),
        ("m inf", "bad value"),
        ("m nan", "bad value"),
        ("m 1x", "bad value"),
        ("m 1 2.5", "bad timestamp"),
        ("m 1 2 3", "after the timestamp"),
        ("# TYPE m", "TYPE without"),
        ("# TYPE m widget", "unknown type"),
    ] {
        let e = error(text);
        assert!(e.contains(why), "{text:?}: {e}");
    }
}

/// The samples of `text` as openmetrics-parser reads them, sorted; a
/// histogram's `le` as Rust prints its bound.
fn independent(text: &str) -> Vec<(String, BTreeMap<String, String>, String)> {
    let exposition = parse_prometheus(text).unwrap();
    let mut out = Vec::new();
    for (name, family) in exposition.families {
        let names = family.get_label_names().to_vec();
        for sample in family.iter_samples() {
            let set = sample.get_labelset().unwrap();
            let labels: BTreeMap<String, String> = names
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        set.get_label_value(n).unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let mut parts = Vec::new();
            match &sample.value {
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => {
                    parts.push((name.clone(), labels.clone(), n.as_f64()));
                }
                PrometheusValue::Counter(c) => {
                    parts.push((name.clone(), labels.clone(), c.value.as_f64()))
                }
                PrometheusValue::Summary(s) => {
                    parts.push((
                        format!("{name}_sum"),
                        labels.clone(),
                        s.sum.as_ref().unwrap().as_f64(),
                    ));
                    parts.push((
                        format!("{name}_count"),
                        labels.clone(),
                        s.count.unwrap() as f64,
                    ));
                }
                PrometheusValue::Histogram(h) => {
                    for bucket in &h.buckets {
                        let mut labels = labels.clone();
                        labels.insert("le".into(), format!("{:?}", bucket.upper_bound));
                        parts.push((format!("{name}_bucket"), labels, bucket.count.as_f64()));
                    }
                    parts.push((
                        format!("{name}_sum"),
                        labels.clone(),
                        h.sum.as_ref().unwrap().as_f64(),
                    ));
                    parts.push((
                        format!("{name}_count"),
                        labels.clone(),
                        h.count.unwrap() as f64,
                    ));
                }
            }
            out.extend(parts.into_iter().map(|(n, l, v)| (n, l, format!("{v:?}"))));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    out
}

#[test]
fn reads_what_an_independent_parser_reads() {
    let mut text =
        String::from("# HELP Ejtimaa_rooms Rooms.\n# TYPE Ejtimaa_rooms gauge\nEjtimaa_rooms 20\n");
    text.push_str("# TYPE mediasoup_producer_packets_total counter\n");
    let odd = [
        "plain",
        "quote\\\"d",
        "back\\\\slash",
        "new\\nline",
        "ünï {,=} ",
        "",
    ];
    for (i, v) in odd.iter().enumerate() {
        text.push_str(&format!(
            "mediasoup_producer_packets_total{{room_id=\"r{i}\",peer_id=\"{v}\",id=\"{i}-x\",kind=\"video\"}} {}\n",
            i * 1000 + 7
        ));
    }
    text.push_str("# TYPE mediasoup_consumer_score gauge\n");
    for (i, v) in ["NaN", "+Inf", "-Inf", "1e-3", "-0.5", "12345678901"]
        .iter()
        .enumerate()
    {
        text.push_str(&format!("mediasoup_consumer_score{{id=\"c{i}\"}} {v}\n"));
    }
    text.push_str("# TYPE Ejtimaa_stats_interval_seconds gauge\nEjtimaa_stats_interval_seconds 1 1700000000000\n");
    text.push_str("# TYPE Ejtimaa_room_score summary\n");
    text.push_str(
        "Ejtimaa_room_score_sum{room_id=\"a\"} 19\nEjtimaa_room_score_count{room_id=\"a\"} 2\n",
    );
    text.push_str("# TYPE Ejtimaa_signaling_request_duration_seconds histogram\n");
    for (le, n) in [("0.001", 3), ("0.5", 7), ("1", 9), ("+Inf", 10)] {
        text.push_str(&format!(
            "Ejtimaa_signaling_request_duration_seconds_bucket{{method=\"join\",le=\"{le}\"}} {n}\n"
        ));
    }
    text.push_str("Ejtimaa_signaling_request_duration_seconds_sum{method=\"join\"} 1.25\n");
    text.push_str("Ejtimaa_signaling_request_duration_seconds_count{method=\"join\"} 10\n");
    let ours = ours_all(&text);
    assert_eq!(ours, independent(&text));
    assert_eq!(ours.len(), 1 + 6 + 6 + 1 + 2 + 6);
}

/// The samples of `text` as [`samples`] reads them, sorted like
/// [`independent`]'s.
fn ours_all(text: &str) -> Vec<(String, BTreeMap<String, String>, String)> {
    let mut out: Vec<_> = samples(text)
        .unwrap()
        .series
        .into_iter()
        .map(|s| {
            let mut labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            if let Some(le) = labels.get_mut("le") {
                *le = format!("{:?}", parse_value(le).unwrap());
            }
            (s.name.to_string(), labels, format!("{:?}", s.value))
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    out
}

proptest::proptest! {
    /// Any label value the exporter may escape reads back as itself, as the
    /// independent parser reads it.
    #[test]
    fn any_escaped_label_value_reads_back(value in "\\PC{0,40}", n in 0u32..1_000_000) {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let text = format!("# TYPE m gauge\nm{{v=\"{escaped}\"}} {n}\n");
        let s = one(&text);
        proptest::prop_assert_eq!(s.label("v"), value.as_str());
        proptest::prop_assert_eq!(s.value, f64::from(n));
        let theirs = independent(&text);
        proptest::prop_assert_eq!(&theirs[0].1["v"], &value);
    }
}
