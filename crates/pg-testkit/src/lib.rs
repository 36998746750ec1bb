//! `pg-testkit`: Throwaway PostgreSQL clusters with an RDS-like permission model, and local AWS API servers, for tests.
//!
//! Filled by its own issue; no public items yet, so that nothing pretends to work before it does.
