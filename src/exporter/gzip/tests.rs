use std::io::Read;

use flate2::read::GzDecoder;
use proptest::prelude::*;

use super::*;

fn gunzip(data: &[u8]) -> String {
    let mut text = String::new();
    GzDecoder::new(data).read_to_string(&mut text).unwrap();
    text
}

/// An exposition of `families` families of `lines` series each, the values
/// from `value`.
fn exposition(families: usize, lines: usize, value: impl Fn(usize, usize) -> u64) -> String {
    let mut text = String::new();
    for f in 0..families {
        text.push_str(&format!(
            "# HELP family_{f}_total Family {f}.\n# TYPE family_{f}_total counter\n"
        ));
        for i in 0..lines {
            text.push_str(&format!(
                "family_{f}_total{{room_id=\"r{}\",id=\"{i:08x}\"}} {}\n",
                i % 97,
                value(f, i)
            ));
        }
    }
    text
}

fn compressed(text: &str, base: Option<(&str, &Gzipped)>, parts: usize) -> Gzipped {
    compress(
        text.as_bytes(),
        1,
        base.map(|(t, g)| (t.as_bytes(), g)),
        parts,
    )
}

#[test]
fn chunks_deflated_side_by_side_join_into_one_member() {
    // Several MB: cut into runs on several threads when asked.
    let text = exposition(8, 12_000, |f, i| (f * i * 7919) as u64);
    assert!(text.len() > MAX_PARTS * PART_MIN);
    let whole = gzip_in_parts(text.as_bytes(), 1, 1);
    for parts in 1..=MAX_PARTS {
        for level in [1, 6] {
            let gz = compressed(&text, None, parts);
            assert_eq!(gz.threads(), parts);
            let gz = gzip_in_parts(text.as_bytes(), level, parts);
            assert_eq!(gunzip(&gz), text, "level {level}, {parts} parts");
        }
    }
    // Each chunk loses only the history before it: a few percent at most
    // against one stream without chunks.
    let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    std::io::Write::write_all(&mut one, text.as_bytes()).unwrap();
    let one = one.finish().unwrap();
    assert!(
        whole.len() < one.len() * 105 / 100,
        "{} vs {}",
        whole.len(),
        one.len()
    );
    assert_eq!(gunzip(&gzip(text.as_bytes(), 1)), text);
}

#[test]
fn small_and_odd_texts_round_trip() {
    for text in [
        "",
        "a",
        "abc\n",
        "no family here\nnor here",
        "# HELP x A.\n",
        "# HELP x A.\nx 1",
        "x 1\n# HELP y B.\ny 2\n",
    ] {
        for parts in 1..=MAX_PARTS {
            let gz = compressed(text, None, parts);
            assert_eq!(gunzip(gz.bytes()), text);
            let again = compressed(text, Some((text, &gz)), parts);
            assert_eq!(gunzip(again.bytes()), text);
        }
    }
}

#[test]
fn unchanged_chunks_reuse_the_previous_deflate() {
    // Family 3 changes between the scrapes; the other families do not.
    let first = exposition(6, 2_000, |f, i| (f + i) as u64);
    let second = exposition(6, 2_000, |f, i| (f + i + usize::from(f == 3)) as u64);
    let base = compressed(&first, None, 1);
    assert_eq!(base.reused(), 0);
    let next = compressed(&second, Some((&first, &base)), 2);
    assert_eq!(gunzip(next.bytes()), second);
    let family = second.len() / 6;
    assert!(
        next.reused() >= second.len() - family - family / 10
            && next.reused() <= second.len() - family + family / 10,
        "reused {} of {} bytes",
        next.reused(),
        second.len()
    );
    // The same text again: everything is reused, and the bytes are the same.
    let same = compressed(&second, Some((&second, &next)), 1);
    assert_eq!(same.reused(), second.len());
    assert_eq!(same.bytes(), next.bytes());
}

#[test]
fn threads_follow_the_text_left_to_deflate_not_the_whole() {
    // A large text of which one family changed: less than PART_MIN is
    // deflated again, so one thread does it, whatever it may use.
    let first = exposition(8, 12_000, |f, i| (f + i) as u64);
    let second = exposition(8, 12_000, |f, i| (f + i + usize::from(f == 5)) as u64);
    assert!(second.len() / 8 < PART_MIN && second.len() > MAX_PARTS * PART_MIN);
    let base = compressed(&first, None, MAX_PARTS);
    assert_eq!(base.threads(), MAX_PARTS);
    let next = compressed(&second, Some((&first, &base)), MAX_PARTS);
    assert_eq!(next.threads(), 1);
    assert_eq!(gunzip(next.bytes()), second);
    // Everything changed: the threads come back.
    let third = exposition(8, 12_000, |f, i| (f + i + 2) as u64);
    let again = compressed(&third, Some((&second, &next)), MAX_PARTS);
    assert_eq!(again.threads(), MAX_PARTS);
    assert_eq!(gunzip(again.bytes()), third);
}

#[test]
fn a_chunk_whose_text_changed_is_deflated_again() {
    // Same lengths, same families, same line counts: only bytes differ.
    let first = exposition(2, 100, |_, _| 1);
    let second = exposition(2, 100, |f, i| if f == 1 && i == 50 { 2 } else { 1 });
    assert_eq!(first.len(), second.len());
    let base = compressed(&first, None, 1);
    let next = compressed(&second, Some((&first, &base)), 1);
    assert_eq!(gunzip(next.bytes()), second);
    assert_eq!(next.reused(), first.len() / 2);
}

#[test]
fn a_base_from_another_layout_is_harmless() {
    // Families renamed, reordered and resized: reuse only where the text is equal.
    let first = exposition(4, 1_500, |f, i| (f * i) as u64);
    let second = exposition(5, 700, |f, i| (f * i) as u64);
    let base = compressed(&first, None, 3);
    for parts in 1..=MAX_PARTS {
        let next = compressed(&second, Some((&first, &base)), parts);
        assert_eq!(gunzip(next.bytes()), second);
        let back = compressed(&first, Some((&second, &next)), parts);
        assert_eq!(gunzip(back.bytes()), first);
    }
}

/// Lines of a small exposition: families, and series lines that may repeat.
fn texts() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("# HELP a A.\n".to_owned()),
            Just("# HELP b B.\n".to_owned()),
            Just("# TYPE a gauge\n".to_owned()),
            "a\\{id=\"[0-9a-f]{1,4}\"\\} [0-9]{1,3}\n",
            "b [0-9]{1,2}",
        ],
        0..1_500,
    )
    .prop_map(|lines| lines.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the previous body, the gzip is exactly the new text.
    #[test]
    fn any_base_gives_exactly_the_text(first in texts(), second in texts(), parts in 1..=MAX_PARTS) {
        let base = compressed(&first, None, parts);
        prop_assert_eq!(gunzip(base.bytes()), first.clone());
        let next = compressed(&second, Some((&first, &base)), parts);
        prop_assert_eq!(gunzip(next.bytes()), second);
    }
}
