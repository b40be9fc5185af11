//! Shared test support: the independent model, strategies and snapshots.
#![allow(dead_code)]

pub mod expected;
pub mod model;
pub mod snapshot;
pub mod strategy;
