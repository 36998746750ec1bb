//! `pg-auth`: Connector credentials (password, Secrets Manager, IAM token), libpq-exact TLS modes and pools for PostgreSQL.
//!
//! Filled by its own issue; no public items yet, so that nothing pretends to work before it does.
