//! payscan's custody side: the keys destinations are derived from and their allocation.

pub mod derivation;

pub use derivation::{DeriveError, Deriver};
