// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import "../src/libraries/Errors.sol";
import {EnergyBilled} from "../src/libraries/Events.sol";
import {ReportLib} from "../src/libraries/ReportLib.sol";
import {Billing, DisputeStatus, LeaseStatus, LeaseTerms, ProvenLeaf, Unit} from "../src/libraries/Types.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {PoweredShellBase} from "./utils/PoweredShellBase.sol";

/// @notice Powered-shell leases: the unit is a kW of critical-IT capacity, delivery is the power
/// available to the tenant's racks (kW-seconds), and the racks' metered energy is passed through
/// at the lease's tariff, from escrow to the site's bond.
contract PoweredShellTest is PoweredShellBase {
    function _bondTotal() internal view returns (uint256) {
        return market.bondOf(clusterId, address(usd)).total;
    }

    // ------------------------------------------------------------ terms and escrow

    function test_escrowHoldsFullRentAndTheMostEnergyTheKwCanDraw() public {
        vm.prank(owner);
        uint256 id = market.createLease(_shellTerms(1, 4));
        assertEq(market.escrowRequired(id), 3 * (EPOCH_RENT + MAX_ENERGY));
        assertEq(uint8(market.getLease(id).unit), uint8(Unit.Kw));
        assertEq(market.getLease(id).energyPricePerKwh, TARIFF);
    }

    function test_onlyAPoweredShellPassesEnergyThroughAndItBillsAvailablePower() public {
        LeaseTerms memory metered = _shellTerms(1, 4);
        metered.billing = Billing.Metered;
        vm.prank(owner);
        vm.expectRevert(InvalidLeaseTerms.selector);
        market.createLease(metered);

        LeaseTerms memory gpuWithTariff = _terms(1, 4);
        gpuWithTariff.energyPricePerKwh = TARIFF;
        vm.prank(owner);
        vm.expectRevert(InvalidLeaseTerms.selector);
        market.createLease(gpuWithTariff);

        LeaseTerms memory noTariff = _shellTerms(1, 4);
        noTariff.energyPricePerKwh = 0; // a shell without pass-through is fine
        vm.prank(owner);
        uint256 id = market.createLease(noTariff);
        assertEq(market.escrowRequired(id), 3 * EPOCH_RENT);
    }

    // ------------------------------------------------------------ settlement

    function test_deliveredEpochPaysRentToHoldersAndEnergyToTheSite() public {
        uint256 id = _shell(2);
        uint256 escrow = market.getLease(id).escrow;
        uint256 bond = _bondTotal();
        _reportLeaf(id, 1, FULL_POWER, 1_200_000); // 1,200 kWh drawn
        skip(CHALLENGE_WINDOW);
        vm.expectEmit(address(market));
        emit EnergyBilled(id, 1, 1_200_000, 60e6);
        market.settle(id, 1, FULL_POWER, 1_200_000, new bytes32[](0));

        assertEq(market.getLease(id).rentPool, EPOCH_RENT, "holders get the capacity rent");
        assertEq(_bondTotal() - bond, 60e6, "the site gets 1,200 kWh x $0.05");
        assertEq(escrow - market.getLease(id).escrow, EPOCH_RENT + 60e6);
        assertEq(market.getLease(id).credits, 0, "full power: no SLA credit");
    }

    function test_energyIsCappedAtWhatTheLeasedKwCanDraw() public {
        uint256 id = _shell(1);
        uint256 bond = _bondTotal();
        _settleLeaf(id, 1, FULL_POWER, 9_000_000); // a meter that claims 9 MWh from 1.5 MW in 1 h
        assertEq(_bondTotal() - bond, MAX_ENERGY);
    }

    /// Racks cannot draw more energy than the power available to them: half the power available
    /// for the epoch caps the energy billed at half the kW's draw.
    function test_energyIsCappedAtWhatTheAvailablePowerCouldDraw() public {
        uint256 id = _shell(1);
        _reportLeaf(id, 1, FULL_POWER / 2, 1_400_000); // 1,400 kWh claimed, 750 kWh possible
        skip(CHALLENGE_WINDOW);
        vm.expectEmit(address(market));
        emit EnergyBilled(id, 1, 1_400_000, MAX_ENERGY / 2);
        market.settle(id, 1, FULL_POWER / 2, 1_400_000, new bytes32[](0));
        assertEq(market.getLease(id).energyBilled, MAX_ENERGY / 2);
    }

    function test_powerOutageBelowTheSlaPaysCreditsFromTheBond() public {
        uint256 id = _shell(1);
        uint64 delivered = FULL_POWER * 99 / 100; // 99 % available against a 99.9 % SLA
        uint256 bond = _bondTotal();
        _settleLeaf(id, 1, delivered, 1_000_000);
        uint256 floor = uint256(FULL_POWER) * 9_990 / 10_000;
        uint256 credit = (floor - delivered) * PRICE_PER_KW_HOUR / 3600;
        assertEq(market.getLease(id).credits, credit);
        assertEq(market.getLease(id).rentPool, uint256(delivered) * PRICE_PER_KW_HOUR / 3600);
        assertEq(int256(_bondTotal()) - int256(bond), int256(50e6) - int256(credit));
    }

    function test_missedEpochBillsNoEnergyAndTheTenantGetsTheUnusedEnergyBack() public {
        uint256 id = _shell(2);
        uint256 before = usd.balanceOf(tenant);
        _settleLeaf(id, 1, FULL_POWER, 1_500_000);
        vm.warp(_epochEnd(2) + REPORT_WINDOW + 1);
        vm.recordLogs();
        market.settleMissed(id, 2);
        assertEq(market.getLease(id).rentPool, 2 * EPOCH_RENT, "epoch 2 compensated from the bond");
        assertEq(uint8(market.getLease(id).status), uint8(LeaseStatus.Ended));
        vm.prank(tenant);
        uint256 back = market.withdrawTenantFunds(id);
        // Epoch 1 used all its energy; epoch 2's rent and energy come back, plus the full credit.
        uint256 fullCredit = uint256(FULL_POWER) * 9_990 / 10_000 * PRICE_PER_KW_HOUR / 3600;
        assertEq(back, EPOCH_RENT + MAX_ENERGY + fullCredit);
        assertEq(usd.balanceOf(tenant) - before, back);
    }

    // ------------------------------------------------------------ disputes

    function test_arbiterRulesTheEnergyAsWellAsTheDelivery() public {
        uint256 id = _shell(1);
        _reportLeaf(id, 1, FULL_POWER, 1_500_000);
        vm.prank(tenant);
        desk.challenge(id, 1);
        uint256 bond = _bondTotal();
        vm.prank(arbiter);
        desk.resolveChallenge(id, 1, FULL_POWER, 900_000, true); // the meter over-read
        market.settle(id, 1, 0, 0, new bytes32[](0));
        assertEq(_bondTotal() - bond, 45e6, "900 kWh billed, not 1,500");
    }

    function test_leavesThatDifferOnlyInEnergyConflict() public {
        uint256 id = _shell(1);
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = ReportLib.deliveryLeaf(id, 1, FULL_POWER, 1_000_000);
        leaves[1] = ReportLib.deliveryLeaf(id, 1, FULL_POWER, 1_400_000);
        _warpToEpochEnd(1);
        _submit(_report(1, MerkleBuilder.root(leaves)));
        desk.proveConflict(
            id,
            1,
            ProvenLeaf(FULL_POWER, 1_000_000, MerkleBuilder.proof(leaves, 0)),
            ProvenLeaf(FULL_POWER, 1_400_000, MerkleBuilder.proof(leaves, 1))
        );
        assertEq(uint8(desk.challengeOf(id, 1).status), uint8(DisputeStatus.Conflict));
        uint256 bond = _bondTotal();
        market.settle(id, 1, 0, 0, new bytes32[](0));
        // Unproven: holders compensated from the bond, the tenant credited, no energy billed.
        uint256 fullCredit = uint256(FULL_POWER) * 9_990 / 10_000 * PRICE_PER_KW_HOUR / 3600;
        assertEq(bond - _bondTotal(), EPOCH_RENT + fullCredit);
    }

    // ------------------------------------------------------------ conservation

    /// Whatever the reports say, every base unit the tenant escrowed ends with the holders, the
    /// site's bond or back with the tenant, and the market holds exactly what it owes.
    function testFuzz_poweredShellConservesMoney(
        uint64[3] memory delivered,
        uint64[3] memory energy,
        uint8 missMask
    ) public {
        uint256 id = _shell(3);
        uint256 escrowed = market.getLease(id).escrow;
        uint256 bondBefore = _bondTotal();
        for (uint64 e = 1; e <= 3; ++e) {
            if (missMask & (1 << (e - 1)) != 0) {
                vm.warp(_epochEnd(e) + REPORT_WINDOW + 1);
                market.settleMissed(id, e);
            } else {
                uint64 d = delivered[e - 1] % (FULL_POWER + 1);
                uint64 wh = energy[e - 1] % 3_000_000;
                _settleLeaf(id, e, d, wh);
            }
        }
        uint256 holders = market.claimable(id, owner);
        vm.prank(owner);
        if (holders != 0) market.claim(id);
        vm.prank(tenant);
        uint256 back = market.withdrawTenantFunds(id);
        int256 bondChange = int256(_bondTotal()) - int256(bondBefore);
        // Tenant's escrow = holders' rent (less compensation, which came from the bond) + energy
        // (into the bond) + what went back (less credits, which came from the bond).
        assertEq(int256(holders) + bondChange + int256(back), int256(escrowed), "escrow accounted for");
        assertLe(market.getLease(id).rentPool, 1, "only dust stays in the pool");
        assertEq(
            usd.balanceOf(address(market)),
            _bondTotal() + market.getLease(id).rentPool,
            "the market holds exactly the bond and the dust"
        );
    }
}
