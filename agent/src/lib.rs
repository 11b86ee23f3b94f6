//! berth-agent: the host daemon.
