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

/// (tanh x, 1 − tanh² x). Beyond |x| = 0.625 both come from one `exp`:
/// with m = 2/(e^{2|x|} + 1) = 1 − |tanh x|, tanh x = ±(1 − m) and
/// 1 − tanh² x = m (2 − m), which keeps full relative accuracy in the tails
/// (where 1 − t·t would cancel). Near 0, tanh x = x + x³ P(x²)/Q(x²), the
/// rational minimax approximation of Cephes' `tanh` on |x| < 0.625 (relative
/// error ≈ 2.5e-16), a few times faster than the library call.
#[inline]
fn tanh_d1(x: f64) -> (f64, f64) {
    const P: [f64; 3] = [-9.643_991_794_250_523e-1, -9.928_772_310_019_186e1, -1.614_687_684_417_084_5e3];
    const Q: [f64; 3] = [1.128_116_784_916_329_3e2, 2.235_488_390_601_004_6e3, 4.844_063_053_251_255e3];
    let ax = x.abs();
    if ax < 0.625 {
        let s = x * x;
        let p = (P[0] * s + P[1]) * s + P[2];
        let q = ((s + Q[0]) * s + Q[1]) * s + Q[2];
        let t = x + x * s * (p / q);
        (t, 1.0 - t * t)
    } else {
        let m = 2.0 / ((2.0 * ax).exp() + 1.0);
        ((1.0 - m).copysign(x), m * (2.0 - m))
    }
}

#[inline]
fn logistic(x: f64) -> f64 {
    // Written so that neither branch overflows.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
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
    #[inline]
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

    #[test]
    fn parse_round_trip() {
        for act in Activation::ALL {
            assert_eq!(act.name().parse::<Activation>().unwrap(), act);
        }
        assert!("relu".parse::<Activation>().is_err());
    }
}
