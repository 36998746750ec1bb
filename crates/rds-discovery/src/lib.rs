//! `rds-discovery`: Find AWS RDS and Aurora PostgreSQL instances by identifier or tag.
//!
//! Filled by its own issue; no public items yet, so that nothing pretends to work before it does.
