//! `pg-grants`: Time-bound PostgreSQL roles and privileges: quoting, inspect, plan, apply, revoke, inventory.
//!
//! Filled by its own issue; no public items yet, so that nothing pretends to work before it does.
