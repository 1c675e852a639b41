//! Stablecoin amounts: base units plus decimals. Money is never a float.

use std::fmt;

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};

use crate::{Result, SdkError};

/// An amount of a token with `decimals` decimals (6 for USDC-style payment stablecoins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Amount {
    base: U256,
    decimals: u8,
}

/// Most decimals an amount may have (10^77 is the largest power of ten in a U256).
const MAX_DECIMALS: u8 = 77;

impl Amount {
    /// An amount from base units.
    pub const fn from_base(base: U256, decimals: u8) -> Self {
        Self { base, decimals }
    }

    /// Nothing, in a token of `decimals`.
    pub const fn zero(decimals: u8) -> Self {
        Self::from_base(U256::ZERO, decimals)
    }

    /// Base units (what contracts take).
    pub const fn base(&self) -> U256 {
        self.base
    }

    /// The token's decimals.
    pub const fn decimals(&self) -> u8 {
        self.decimals
    }

    /// Parses a plain decimal such as `"12.50"`, `"12"` or `"0.000001"` for a token with
    /// `decimals` decimals. Refuses signs, exponents, separators, empty parts, more fraction
    /// digits than the token has, and values beyond 2^256.
    pub fn parse(input: &str, decimals: u8) -> Result<Self> {
        let bad = |reason| SdkError::Amount { input: input.to_string(), reason };
        if decimals > MAX_DECIMALS {
            return Err(bad("a token has at most 77 decimals"));
        }
        let (int, frac) = match input.split_once('.') {
            Some((int, frac)) => (int, frac),
            None => (input, ""),
        };
        if int.is_empty() || (input.contains('.') && frac.is_empty()) {
            return Err(bad("write digits on both sides of the point, e.g. 12.50"));
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad("only digits and one decimal point are allowed"));
        }
        if frac.len() > usize::from(decimals) {
            return Err(bad("more fraction digits than the token's decimals"));
        }
        let scale = U256::from(10u8).pow(U256::from(decimals));
        let padded = format!("{frac:0<width$}", width = usize::from(decimals));
        let int: U256 = int.parse().map_err(|_| bad("too large"))?;
        let frac: U256 = if padded.is_empty() {
            U256::ZERO
        } else {
            padded.parse().map_err(|_| bad("too large"))?
        };
        let base = int
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac))
            .ok_or_else(|| bad("too large"))?;
        Ok(Self { base, decimals })
    }
}

impl fmt::Display for Amount {
    /// Whole units, then the fraction without trailing zeros but with at least two digits
    /// (cents), e.g. `12.50`, `0.000001`, `1000.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.decimals == 0 {
            return write!(f, "{}", self.base);
        }
        let scale = U256::from(10u8).pow(U256::from(self.decimals));
        let (int, frac) = (self.base / scale, self.base % scale);
        let digits = format!("{frac:0>width$}", width = usize::from(self.decimals));
        let keep = digits.trim_end_matches('0').len().max(2.min(digits.len()));
        write!(f, "{int}.{}", &digits[..keep])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_dollars_and_cents() {
        let a = Amount::parse("12.50", 6).expect("parse");
        assert_eq!(a.base(), U256::from(12_500_000u64));
        assert_eq!(a.to_string(), "12.50");
        assert_eq!(Amount::parse("12", 6).expect("parse").to_string(), "12.00");
        assert_eq!(Amount::parse("0.000001", 6).expect("parse").to_string(), "0.000001");
        assert_eq!(Amount::from_base(U256::from(7u8), 0).to_string(), "7");
        assert_eq!(Amount::from_base(U256::from(5u8), 1).to_string(), "0.5");
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for input in
            ["", "-1", "+1", "1e6", "1,000", "12.", ".5", "1.2.3", "0.0000001", "abc", " 1"]
        {
            assert!(Amount::parse(input, 6).is_err(), "{input:?} must be refused");
        }
        let too_big = format!("{}0", U256::MAX);
        assert!(Amount::parse(&too_big, 0).is_err());
        assert!(Amount::parse(&U256::MAX.to_string(), 1).is_err(), "overflow when scaled");
    }
}
