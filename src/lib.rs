//! payscan: self-hosted stablecoin payments on EVM chains. This crate wires the components
//! (core, scanner, custody, api) into one daemon; `main.rs` only parses the command line.

#![forbid(unsafe_code)]

pub mod dev;
pub mod devchain;
pub mod ops;
#[cfg(debug_assertions)]
mod panic_drill;
pub mod startup;
pub mod tasks;
pub mod telemetry;

pub use startup::Application;
