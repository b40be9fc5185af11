//! Ejtimaa's simulator: browserless synthetic peers that load and check a
//! running server (see `shared/design.md`, "Simulator").

pub mod capacity;
pub mod checks;
pub mod cpu;
pub mod launch;
pub mod ledger;
pub mod peer;
pub mod plot;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scrape;
pub mod scraper;
pub mod signaling;
pub mod timeline;
