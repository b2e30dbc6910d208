//! The store against both databases: each test runs once on SQLite and once on PostgreSQL.

mod deliveries;
mod destinations;
mod feed;
mod payments;
mod payouts;
mod support;
