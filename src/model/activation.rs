//! Activations σ0 with their first and second derivatives.
//!
//! | name      | σ0(x)                  | σ0'(x)              | σ0''(x)                 |
//! |-----------|------------------------|---------------------|-------------------------|
//! | tanh      | tanh x                 | 1 − tanh²x          | −2 tanh x (1 − tanh²x)  |
//! | sigmoid   | s = 1/(1+e^{−x})       | s(1−s)              | s(1−s)(1−2s)            |
//! | erf       | erf x                  | (2/√π) e^{−x²}      | −2x σ0'                 |
//! | softplus  | log(1+eˣ)              | s                   | s(1−s)                  |
//! | gelu      | x Φ(x)                 | Φ(x) + x φ(x)       | φ(x)(2 − x²)            |
//! | sin       | sin x                  | cos x               | −sin x                  |
//! | linear    | x                      | 1                   | 0                       |
//!
//! Φ and φ are the standard normal distribution function and density.

use std::fmt;
use std::str::FromStr;

/// A scalar activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Tanh,
    Sigmoid,
    Erf,
    Softplus,
    Gelu,
    Sin,
    Linear,
}

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// e^y for y ≤ 0 without branches or library calls, so that a loop over atoms
/// vectorises. Cody–Waite reduction y = k ln2 + r, |r| ≤ ln2/2, with ln2 split so
/// that k·ln2_hi is exact; e^r by its Taylor polynomial of degree 13 (remainder
/// r¹⁴/14! < 5e-18); 2^k assembled in the exponent bits. Below −708 (where
/// e^y < 3.3e-308 and 2^k would leave the normal range) the result is 0, as an
/// underflow of e^y: the tails of tanh and the logistic function then give
/// σ0' = σ0'' = 0 exactly, not a floor that large inputs could lift.
#[inline(always)]
fn exp_nonpositive(y: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // low 21 bits zero
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // ln 2 − LN2_HI
    // 1.5·2^52: adding it rounds to an integer held in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // Not `max`, which would turn a NaN into −708.
    let tail = y < -708.0;
    let y = if tail { -708.0 } else { y };
    let kf = y * std::f64::consts::LOG2_E + SHIFT;
    let k = kf - SHIFT;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // The low 12 bits of kf's mantissa are k mod 4096; k + 1023 ∈ [1, 1023] is the biased exponent.
    let scale = f64::from_bits(kf.to_bits().wrapping_add(1023) << 52);
    if tail { 0.0 } else { p * scale }
}

/// (tanh x, 1 − tanh² x), branch-free. For |x| ≥ 0.625, with e = e^{−2|x|} and
/// m = 2e/(1 + e) = 1 − |tanh x|: tanh x = ±(1 − m) and 1 − tanh² x = m (2 − m),
/// which keeps full relative accuracy in the tails (where 1 − t·t would cancel).
/// For |x| < 0.625, tanh x = x + x³ P(x²)/Q(x²), the rational minimax
/// approximation of Cephes' `tanh` (relative error ≈ 2.5e-16), which keeps the
/// relative accuracy near 0 that 1 − m loses. Both are computed and one is
/// selected, with a single division.
#[inline(always)]
fn tanh_d1(x: f64) -> (f64, f64) {
    const P: [f64; 3] = [-9.643_991_794_250_523e-1, -9.928_772_310_019_186e1, -1.614_687_684_417_084_5e3];
    const Q: [f64; 3] = [1.128_116_784_916_329_3e2, 2.235_488_390_601_004_6e3, 4.844_063_053_251_255e3];
    let ax = x.abs();
    let small = ax < 0.625;
    // The rational part on a bounded argument, so that the unused lane stays finite.
    let xs = if small { x } else { 0.0 };
    let s = xs * xs;
    let p = (P[0] * s + P[1]) * s + P[2];
    let q = ((s + Q[0]) * s + Q[1]) * s + Q[2];
    let e = exp_nonpositive(-2.0 * ax);
    let inv = 1.0 / if small { q } else { 1.0 + e };
    let t_small = xs + xs * s * (p * inv);
    let m = 2.0 * e * inv;
    if small { (t_small, 1.0 - t_small * t_small) } else { ((1.0 - m).copysign(x), m * (2.0 - m)) }
}

/// The logistic function 1/(1 + e^{−x}) = (x ≥ 0 ? 1 : e)/(1 + e) with
/// e = e^{−|x|}: no overflow, no branch.
#[inline(always)]
fn logistic(x: f64) -> f64 {
    let e = exp_nonpositive(-x.abs());
    (if x >= 0.0 { 1.0 } else { e }) / (1.0 + e)
}

impl Activation {
    pub const ALL: [Activation; 7] = [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Erf,
        Activation::Softplus,
        Activation::Gelu,
        Activation::Sin,
        Activation::Linear,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Erf => "erf",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
            Activation::Sin => "sin",
            Activation::Linear => "linear",
        }
    }

    /// σ0(−x) = −σ0(x): with no output bias, mirrored inputs make G2 singular.
    pub fn is_odd(self) -> bool {
        matches!(self, Activation::Tanh | Activation::Erf | Activation::Sin | Activation::Linear)
    }

    #[inline]
    pub fn value(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => tanh_d1(x).0,
            Activation::Sigmoid => logistic(x),
            Activation::Erf => libm::erf(x),
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Activation::Gelu => 0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2),
            Activation::Sin => x.sin(),
            Activation::Linear => x,
        }
    }

    /// (σ0, σ0') at x, sharing the expensive part.
    #[inline]
    pub fn value_d1(self, x: f64) -> (f64, f64) {
        match self {
            Activation::Tanh => tanh_d1(x),
            Activation::Sigmoid => {
                let s = logistic(x);
                (s, s * (1.0 - s))
            }
            Activation::Erf => (libm::erf(x), FRAC_2_SQRT_PI * (-x * x).exp()),
            Activation::Softplus => (self.value(x), logistic(x)),
            Activation::Gelu => {
                let cdf = 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
                let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
                (x * cdf, cdf + x * pdf)
            }
            Activation::Sin => x.sin_cos(),
            Activation::Linear => (x, 1.0),
        }
    }

    /// (σ0, σ0', σ0'') at x.
    #[inline(always)]
    pub fn value_d2(self, x: f64) -> (f64, f64, f64) {
        match self {
            Activation::Tanh => {
                let (t, d) = tanh_d1(x);
                (t, d, -2.0 * t * d)
            }
            Activation::Sigmoid => {
                let s = logistic(x);
                let d = s * (1.0 - s);
                (s, d, d * (1.0 - 2.0 * s))
            }
            Activation::Erf => {
                let d = FRAC_2_SQRT_PI * (-x * x).exp();
                (libm::erf(x), d, -2.0 * x * d)
            }
            Activation::Softplus => {
                let s = logistic(x);
                (self.value(x), s, s * (1.0 - s))
            }
            Activation::Gelu => {
                let cdf = 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
                let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
                (x * cdf, cdf + x * pdf, pdf * (2.0 - x * x))
            }
            Activation::Sin => {
                let (s, c) = x.sin_cos();
                (s, c, -s)
            }
            Activation::Linear => (x, 1.0, 0.0),
        }
    }
}

/// Runs `$body` with `$f` bound to `|x| (σ0, σ0', σ0'')` of the given activation.
/// The activations without branches or library calls (tanh, logistic, linear)
/// get a copy of `$body` each, so that an inner loop over atoms inlines and
/// vectorises them; the others, which call the library (erf, exp, log1p, sin),
/// share one copy that dispatches per evaluation.
#[macro_export]
macro_rules! with_activation {
    ($act:expr, |$f:ident| $body:expr) => {{
        use $crate::model::Activation as A;
        match $act {
            A::Tanh => { let $f = |x: f64| A::Tanh.value_d2(x); $body }
            A::Sigmoid => { let $f = |x: f64| A::Sigmoid.value_d2(x); $body }
            A::Linear => { let $f = |x: f64| A::Linear.value_d2(x); $body }
            other => { let $f = |x: f64| other.value_d2(x); $body }
        }
    }};
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .iter()
            .copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
                format!("unknown activation '{s}' (expected one of {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_evaluations_agree_with_value() {
        for act in Activation::ALL {
            for &x in &[-3.0, -0.7, 0.0, 0.4, 2.5] {
                let (v1, d1) = act.value_d1(x);
                let (v2, d2, _) = act.value_d2(x);
                assert_eq!(v1, act.value(x), "{act} at {x}");
                assert_eq!(v2, act.value(x), "{act} at {x}");
                assert!((d1 - d2).abs() <= 1e-15, "{act} at {x}");
            }
        }
    }

    #[test]
    fn tanh_matches_the_library_and_its_tail_derivative_is_accurate() {
        for k in -400..=400 {
            let x = k as f64 * 0.05;
            let (t, d) = tanh_d1(x);
            assert!((t - x.tanh()).abs() <= 2.0 * f64::EPSILON * x.tanh().abs().max(1e-300), "{x}");
            // 1 − tanh² x = 1/cosh² x, accurate relative to itself even where it is tiny.
            let exact = 1.0 / (x.cosh() * x.cosh());
            assert!((d - exact).abs() <= 1e-14 * exact, "{x}: {d} vs {exact}");
        }
        // The rational approximation on |x| < 0.625, densely, and across the switch.
        for k in -20_000..=20_000 {
            let x = k as f64 * (0.63 / 20_000.0);
            let t = tanh_d1(x).0;
            assert!((t - x.tanh()).abs() <= 2.0 * f64::EPSILON * x.tanh().abs(), "{x}: {t} vs {}", x.tanh());
        }
    }

    /// Relative error in units of the spacing of doubles at the exact value.
    fn ulps(approx: f64, exact: f64) -> f64 {
        (approx - exact).abs() / (exact.abs() * f64::EPSILON)
    }

    #[test]
    fn branch_free_exponential_is_within_two_ulps_of_the_library() {
        let mut worst: f64 = 0.0;
        for k in 0..=200_000 {
            let y = -708.0 * (k as f64 / 200_000.0).powi(2);
            worst = worst.max(ulps(exp_nonpositive(y), y.exp()));
        }
        // Around the reduction's switching points k ln2 ± ln2/2.
        for k in 0..1000 {
            for dy in [-1e-12, 0.0, 1e-12] {
                let y = -(k as f64 + 0.5) * std::f64::consts::LN_2 + dy;
                worst = worst.max(ulps(exp_nonpositive(y), y.exp()));
            }
        }
        assert!(worst <= 2.0, "worst error {worst} ulps");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f64::NAN).is_nan());
        assert_eq!(exp_nonpositive(-708.5), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn non_finite_arguments() {
        for act in [Activation::Tanh, Activation::Sigmoid] {
            let (v, d, c) = act.value_d2(f64::NAN);
            assert!(v.is_nan() && d.is_nan() && c.is_nan(), "{act}");
        }
        assert_eq!(tanh_d1(f64::INFINITY), (1.0, 0.0));
        assert_eq!(tanh_d1(f64::NEG_INFINITY), (-1.0, 0.0));
        // Far tails: σ0' and σ0'' vanish exactly, as 1/cosh² underflows.
        assert_eq!(Activation::Tanh.value_d2(400.0), (1.0, 0.0, 0.0));
        assert_eq!(Activation::Tanh.value_d2(-1e150), (-1.0, 0.0, 0.0));
        assert_eq!(Activation::Sigmoid.value_d2(-800.0), (0.0, 0.0, 0.0));
        assert_eq!(logistic(f64::INFINITY), 1.0);
        assert_eq!(logistic(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn logistic_matches_its_definition() {
        for k in -4000..=4000 {
            let x = k as f64 * 0.01;
            let exact = if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) };
            assert!(ulps(logistic(x), exact) <= 4.0, "{x}: {} vs {exact}", logistic(x));
        }
    }

    #[test]
    fn parse_round_trip() {
        for act in Activation::ALL {
            assert_eq!(act.name().parse::<Activation>().unwrap(), act);
        }
        assert!("relu".parse::<Activation>().is_err());
    }
}
