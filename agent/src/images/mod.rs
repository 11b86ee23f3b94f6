//! The image store: content-addressed blobs, snapshots, pulls and imports.
