//! Amount parsing and display round-trip for any value and any decimals.

use alloy::primitives::U256;
use compute_ledger_sdk::Amount;
use proptest::prelude::*;

proptest! {
    #[test]
    fn display_then_parse_is_identity(limbs in any::<[u64; 4]>(), decimals in 0u8..=30) {
        let amount = Amount::from_base(U256::from_limbs(limbs), decimals);
        let shown = amount.to_string();
        prop_assert_eq!(Amount::parse(&shown, decimals).expect("parse what we print"), amount);
    }

    #[test]
    fn parse_then_display_keeps_the_value(int in 0u64..1_000_000_000_000, frac in 0u32..1_000_000) {
        let text = format!("{int}.{frac:06}");
        let amount = Amount::parse(&text, 6).expect("valid");
        prop_assert_eq!(amount.base(), U256::from(int) * U256::from(1_000_000u64) + U256::from(frac));
        prop_assert_eq!(Amount::parse(&amount.to_string(), 6).expect("again"), amount);
    }
}
