//! Parts several pages share.

pub mod agent_version;
pub mod bars;
pub mod confirm;
pub mod graph;
pub mod host_picker;
pub mod inventory;
pub mod metrics;
pub mod problem;
pub mod pull;
pub mod toast;
