//! The differential harness's parts (see `differential.rs`).

pub mod compare;
pub mod generated;
pub mod probe;
pub mod variants;
pub mod world;
