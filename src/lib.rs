//! # mfres — mean-field training dynamics of deep ResNets, solved on grids
//!
//! An infinitely wide, deep ResNet is a family of parameter densities ρ(·, s),
//! s ∈ [0, 1], and an output density ν; gradient descent on the squared loss is
//! the Wasserstein gradient flow
//! `∂_t ρ = η_ρ ∇·(ρ ∇Φ_ρ)`, `∂_t ν = η_ν ∇·(ν ∇Φ_ν)` (see `docs/model.md`).
//! This crate discretises the densities themselves:
//!
//! * [`model`] — the physics: activations, blocks, forward pass, exact discrete
//!   adjoint, potentials, Gram matrices, exact solutions;
//! * [`measure`] — grids (cell masses, quadrature) and their reduction to atoms;
//! * [`fv`] — finite-volume transport; [`spectral`] — Fourier pseudo-spectral
//!   transport on the periodic box; [`time`] — Runge–Kutta tableaux;
//! * [`eulerian`] — the semi-discrete flow on grids; [`lagrangian`] — the
//!   finite network (particles) with the same velocities; [`run`] — the driver
//!   shared by both, and the grid problem; [`particles`] — the particle problem;
//! * [`compare`] — cross-validation of the two solvers; [`order`] — refinement
//!   studies and observed orders of convergence;
//! * [`theory`] — checks of the convergence theory on a run; [`sweep`] — grids of
//!   configurations, run here or emitted for a batch system and collected;
//! * [`config`], [`data`], [`io`], [`plot`], [`figures`], [`cli`] — the program.
//!
//! Conventions: densities are stored as cell masses (Σ = 1 at t = 0); matrices are
//! row-major `Vec<f64>`; eigenvalues ascend.

pub mod cli;
pub mod compare;
pub mod config;
pub mod data;
pub mod diagnostics;
pub mod error;
pub mod eulerian;
pub mod figures;
pub mod fv;
pub mod io;
pub mod lagrangian;
pub mod measure;
pub mod model;
pub mod order;
pub mod particles;
pub mod plot;
pub mod run;
pub mod spectral;
pub mod sweep;
pub mod theory;
pub mod time;
