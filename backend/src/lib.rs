//! berth-server: the control plane.
