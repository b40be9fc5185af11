//! Ejtimaa's simulator: browserless synthetic peers that load and check a
//! running server (see `shared/design.md`, "Simulator").

pub mod peer;
pub mod signaling;
