//! Ejtimaa's simulator: browserless synthetic peers that load and check a
//! running server (see `shared/design.md`, "Simulator").

pub mod checks;
pub mod launch;
pub mod ledger;
pub mod peer;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scrape;
pub mod signaling;
