//! The page a browser gets at `/`: what this is, the version, how many series
//! the last render had, and a link to the metrics.

use ejtimaa_systems::export::BuildInfo;

/// The landing page of a `build` whose last exposition had `series` series
/// (if rendered yet).
pub fn page(build: &BuildInfo, series: Option<usize>) -> String {
    let BuildInfo {
        version,
        mediasoup_version,
    } = build;
    let series = series.map_or_else(|| "not rendered yet".to_owned(), |n| n.to_string());
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <title>Ejtimaa exporter</title></head>\n<body>\n\
         <h1>Ejtimaa exporter</h1>\n\
         <p>Ejtimaa {version} on mediasoup {mediasoup_version}.</p>\n\
         <p>Series in the last scrape: {series}.</p>\n\
         <p><a href=\"/metrics\">Metrics</a> (Prometheus text format 0.0.4).</p>\n\
         </body>\n</html>\n"
    )
}

/// How many series an exposition holds: its lines that are not comments.
pub fn count_series(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_samples_not_comments() {
        let text = "# HELP a x\n# TYPE a gauge\na 1\nb{c=\"#\"} 2\n";
        assert_eq!(count_series(text), 2);
        let build = BuildInfo {
            version: "1.2.3".into(),
            mediasoup_version: "0.33.1".into(),
        };
        let page = page(&build, Some(2));
        assert!(page.contains("Series in the last scrape: 2."));
        assert!(page.contains("href=\"/metrics\""));
        assert!(page.contains("Ejtimaa 1.2.3 on mediasoup 0.33.1."));
    }
}
