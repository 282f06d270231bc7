//! The physics: activations, blocks, the depth-discrete network and its potentials,
//! and the exact solutions the numerics are tested against.

pub mod activation;
pub mod atoms;
pub mod block;
pub mod exact;
pub mod network;
pub mod tables;

pub use activation::Activation;
pub use atoms::Atoms;
pub use block::{Block, FieldLayout, PotentialField};
pub use network::{Evaluation, Forward, Network, half_mse};
