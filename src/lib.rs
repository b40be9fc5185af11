//! Ejtimaa: a video-conferencing server on mediasoup that can be observed and
//! load-tested without browsers.
//!
//! The shell around the pure core (`ejtimaa-systems`): configuration, the
//! engine thread that owns the World, the mediasoup media layer, and the
//! exporter over HTTP.

pub mod admin;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod connect;
pub mod engine;
pub mod exporter;
#[doc(hidden)]
pub mod fuzzing;
pub mod listen;
pub mod media;
pub mod rdns;
pub mod server;
pub mod signaling;
pub mod slice;
pub mod usage;
