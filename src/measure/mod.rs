//! Discrete measures over block parameters.

pub mod grid;
