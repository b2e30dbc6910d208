//! End-to-end tests: payscan over HTTP against a real anvil chain and real databases.

#![allow(unreachable_pub)]

mod support;

mod admin;
mod backlog;
mod bounds;
mod chaos;
mod cli;
mod cluster;
mod contract;
mod destinations;
mod errors;
mod escrow;
mod events;
mod expiry;
mod health;
mod intents;
mod ledger;
mod limits;
mod openapi;
mod options;
mod outbound;
mod payments;
mod payouts;
mod quotes;
mod reorgs;
mod reports;
mod request_network;
mod restart;
mod rpc_faults;
mod safety;
mod secrets;
mod streams;
mod sweeps;
mod webhooks;
mod workers;
