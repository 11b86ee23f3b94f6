//! Administration: users, teams and members, role bindings with their
//! scope, API tokens (shown once), and the audit log with filters.

pub mod audit;
pub mod roles;
pub mod teams;
pub mod tokens;
pub mod users;
