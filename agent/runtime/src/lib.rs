//! berth-runtime: an OCI runtime on Linux namespaces and cgroups.
