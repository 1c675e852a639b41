// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LeaseNavOracle} from "../src/LeaseNavOracle.sol";
import {LeaseStatus} from "../src/libraries/Types.sol";
import {CollateralBase} from "./utils/CollateralBase.sol";

/// @notice Second-round review of LeaseNavOracle.
contract NavAttacks2Test is CollateralBase {
    /// R2-3. A dark owner's last epochs are marked down to 0 although their full compensation is
    /// already locked in the owner's bond and anyone may book it (`settleMissed`). A lender pokes at
    /// the markdown (anchor = rent held only), then books the compensation itself: the lease is
    /// Ended, every token holds 8 epochs of rent (128,000 base units) and nothing is left to
    /// attest, yet the rise cap keeps the feed at 92,800 (27% under the cash in the token) for
    /// epochs to come: borrowers are liquidated against a price below what the token holds.
    function test_R2_3_riseCapHoldsAnEndedLeaseBelowTheCashItsTokensHold() public {
        _wrap(alice, 600);
        for (uint64 e = 1; e < 6; ++e) {
            _reportAndSettle(lease, e, _full());
            oracle.poke(); // the keeper, each round
        }
        // Epochs 6, 7, 8: the owner goes dark. Past epoch 8's reporting window all three are missed.
        vm.warp(_epochEnd(8) + REPORT_WINDOW + 1);
        oracle.poke(); // the lender, at the markdown
        market.settleMissed(lease, 6); // the lender (anyone) books the bond's compensation
        market.settleMissed(lease, 7);
        market.settleMissed(lease, 8);
        (LeaseStatus status,,) = market.leaseStatus(lease);
        assertEq(uint8(status), uint8(LeaseStatus.Ended));

        LeaseNavOracle.Breakdown memory b = oracle.breakdown();
        emit log_named_uint("cash per token (1e18)", b.cashPerToken1e18);
        emit log_named_uint("raw price            ", b.rawPrice);
        emit log_named_uint("price                ", b.price);
        uint256 t0 = block.timestamp;
        for (uint256 k = 1; k < 4; ++k) {
            vm.warp(t0 + k * EPOCH);
            emit log_named_uint("price k epochs later ", oracle.price());
        }
        vm.warp(t0);
        assertEq(b.rawPrice, 8 * 16_000 * 1e36, "eight epochs' rent (5 paid, 3 compensated) held per token");
        assertEq(oracle.price(), b.rawPrice, "an ended lease is worth exactly the rent its tokens hold");
    }
}
