//! berth-agent: the host daemon.

pub mod images;
