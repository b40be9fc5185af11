//! Ejtimaa's simulator: browserless synthetic peers that load and check a
//! running server (see `docs/design.md`, "Simulator").

pub mod capacity;
pub mod checks;
pub mod cluster;
pub mod cpu;
pub mod delivery;
pub mod exporter;
pub mod exposition;
pub mod idle;
pub mod join;
pub mod launch;
pub mod ledger;
pub mod overrides;
pub mod peer;
pub mod plot;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod scraper;
pub mod signaling;
pub mod timeline;
pub mod tls;
pub mod tokens;
