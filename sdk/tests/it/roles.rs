//! Every role on a real anvil, through a whole lease: owner creates and offers, tenant funds by
//! permit, investors buy, reports are relayed, the keeper settles (a reported epoch with a proof,
//! a missed one from the bond), investors and the tenant are paid, and every stablecoin base
//! unit is accounted for. Each failure a user can meet comes back as the contract's named error.

use alloy::primitives::U256;
use compute_ledger_sdk::{
    Amount, Arbiter, DueKind, ErrorKind, Investor, LeaseStatus, LedgerEvent, LedgerEvents,
    ProofBook, SdkError,
    bindings::LeaseMarket::LeaseMarketEvents,
    test_utils::{self, Market, dollars},
};
use futures::StreamExt;

/// The contract error `result` failed with.
fn error_kind<T: std::fmt::Debug>(result: Result<T, SdkError>) -> ErrorKind {
    match result {
        Err(SdkError::Contract(revert)) => revert.kind,
        other => panic!("expected a contract error, got {other:?}"),
    }
}

fn base(amount: Amount) -> U256 {
    amount.base()
}

#[tokio::test]
async fn a_lease_from_offer_to_claimed_rent() {
    let m = Market::start(10_000, 5_000).await;
    let [alice, bob, carol] = [&m.investors[0], &m.investors[1], &m.investors[2]];
    let start = m.current_epoch().await + 2;
    let offer = m.lease_offer(16, start, 2);
    let lease = m.owner.create_lease(&offer).await.expect("create");
    assert_eq!(lease, U256::from(1));
    let bond = m.owner.bond(m.cluster_id).await.expect("bond");
    assert!(!base(bond.locked).is_zero(), "worst-case credits locked");

    // An unfunded lease never settles and the owner may cancel it.
    let unfunded = m.owner.create_lease(&offer).await.expect("create second");

    // Funding: no approval, then an expired permit, then a valid permit.
    assert_eq!(error_kind(m.tenant.fund(lease).await), ErrorKind::InsufficientAllowance);
    let now = m.tenant.client().chain_time().await.expect("time");
    assert_eq!(
        error_kind(m.tenant.fund_with_permit(lease, now - 1).await),
        ErrorKind::PermitExpired
    );
    let before = m.tenant.client().balance().await.expect("balance");
    let escrow = m.tenant.fund_with_permit(lease, now + 600).await.expect("permit fund");
    // 16 GPUs x 30 s at $2.00 per GPU-hour is 0.266666 per epoch (rounded down), for 2 epochs.
    assert_eq!(escrow.to_string(), "0.533332");
    let after = m.tenant.client().balance().await.expect("balance");
    assert_eq!(base(before) - base(after), base(escrow));
    assert_eq!(m.tenant.client().lease(lease).await.expect("lease").status, LeaseStatus::Active);

    // Primary sale: 1 base unit per share; a blocklisted buyer and a paused stablecoin are
    // refused, and nothing moves.
    let price = Amount::from_base(U256::from(1), 6);
    m.owner.offer_shares(lease, 600_000, price).await.expect("offer");
    assert_eq!(
        alice.buy_shares(lease, 300_000, price).await.expect("alice buys").to_string(),
        "0.30"
    );
    bob.buy_shares(lease, 200_000, price).await.expect("bob buys");
    let stablecoin = m.governance.stablecoin();
    send(stablecoin.setBlocklisted(carol.client().address(), true)).await;
    assert_eq!(error_kind(carol.buy_shares(lease, 50_000, price).await), ErrorKind::Blocklisted);
    send(stablecoin.setBlocklisted(carol.client().address(), false)).await;
    send(stablecoin.pause()).await;
    assert_eq!(error_kind(carol.buy_shares(lease, 50_000, price).await), ErrorKind::EnforcedPause);
    send(stablecoin.unpause()).await;
    assert!(matches!(
        carol.buy_shares(lease, 200_000, price).await,
        Err(SdkError::Invalid(message)) if message.contains("offers 100000 shares")
    ));
    carol.buy_shares(lease, 100_000, price).await.expect("carol buys the rest");
    assert_eq!(alice.offer(lease).await.expect("offer").amount, 0);

    // Epoch `start`: full delivery, reported; it cannot settle inside the challenge window.
    m.advance_past_epoch(start, 1).await;
    let capacity = 16 * u64::from(test_utils::EPOCH);
    let tree = m.report(start, &[(lease, capacity)]).await;
    let proof = tree.proof(lease).expect("proof");
    assert_eq!(
        error_kind(m.keeper.settle(lease, start, capacity, 0, proof.clone()).await),
        ErrorKind::ChallengeWindowOpen
    );
    assert!(m.keeper.due_epochs().await.expect("due").is_empty());
    assert_eq!(
        error_kind(m.keeper.settle(unfunded, start, 0, 0, vec![]).await),
        ErrorKind::WrongLeaseStatus
    );
    m.devnet.advance(test_utils::CHALLENGE_WINDOW).await;

    // Without the tree the keeper skips the lease; with it the epoch settles at full rent.
    let run = m.keeper.settle_due(&ProofBook::default(), 10).await.expect("keeper");
    assert_eq!((run.settled.len(), run.without_proof.len()), (0, 1));
    let mut proofs = ProofBook::default();
    proofs.insert(m.cluster_id, start, tree);
    let run = m.keeper.settle_due(&proofs, 10).await.expect("keeper");
    assert_eq!(run.settled.len(), 1);
    let first = run.settled[0];
    assert_eq!((first.epoch, first.delivered, first.missed), (start, capacity, false));
    assert_eq!(first.rent.to_string(), "0.266666");
    assert!(base(first.sla_credit).is_zero());
    assert_eq!(
        error_kind(m.keeper.settle(lease, start, capacity, 0, proof).await),
        ErrorKind::EpochAlreadySettled
    );

    // Epoch `start + 1`: the oracle goes dark; after the deadline it settles as missed.
    m.advance_past_epoch(start + 1, test_utils::REPORT_WINDOW + 1).await;
    let due = m.keeper.due_epochs().await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].epoch, due[0].kind), (start + 1, DueKind::Missed));
    let run = m.keeper.settle_due(&proofs, 10).await.expect("keeper");
    let missed = run.settled[0];
    assert!(missed.missed && base(missed.rent).is_zero() && !base(missed.sla_credit).is_zero());
    assert_eq!(missed.outcome, compute_ledger_sdk::Outcome::Missed);
    assert_eq!(missed.compensation, first.rent, "holders get a full epoch's rent from the bond");
    let ended = m.keeper.client().lease(lease).await.expect("lease");
    assert_eq!(ended.status, LeaseStatus::Ended);

    // Investors claim pro rata (rent and compensation); a second claim has nothing due.
    let rent = base(first.rent);
    let paid_to_holders = rent + base(missed.compensation);
    let owner_as_holder = Investor::new(m.owner.client().clone());
    let mut claimed = U256::ZERO;
    for (holder, shares) in [(alice, 300_000u64), (bob, 200_000), (carol, 100_000)]
        .into_iter()
        .chain([(&owner_as_holder, 400_000)])
    {
        let due = holder.claimable(lease).await.expect("claimable");
        let share = |amount: U256| amount * U256::from(shares) / U256::from(1_000_000);
        let expected = share(rent) + share(base(missed.compensation));
        assert!(base(due) >= expected && base(due) <= expected + U256::from(1), "pro rata");
        assert_eq!(holder.claim(lease).await.expect("claim"), due);
        assert_eq!(error_kind(holder.claim(lease).await), ErrorKind::NothingToClaim);
        claimed += base(due);
    }
    let positions = alice.positions().await.expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!((positions[0].shares, positions[0].share_bps()), (300_000, 3_000));

    // Shares move; the receiver's positions show them.
    alice.transfer_shares(lease, carol.client().address(), 100_000).await.expect("transfer");
    let carol_positions = carol.positions().await.expect("positions");
    assert_eq!(carol_positions[0].shares, 200_000);

    // The tenant gets the SLA credit and the unearned escrow; the cancelled lease frees its lock.
    let paid = m.tenant.withdraw(lease).await.expect("withdraw");
    assert_eq!(paid.credits, missed.sla_credit);
    assert_eq!(base(paid.remainder), base(escrow) - rent);
    assert_eq!(error_kind(m.tenant.withdraw(lease).await), ErrorKind::NothingToClaim);
    m.owner.cancel_lease(unfunded).await.expect("cancel");
    let bond = m.owner.bond(m.cluster_id).await.expect("bond");
    assert!(base(bond.locked).is_zero());
    assert_eq!(
        base(bond.total),
        base(dollars(5_000)) - base(missed.sla_credit) - base(missed.compensation)
    );

    // Every base unit: the market holds exactly the bond plus unclaimed rounding dust.
    let held = stablecoin.balanceOf(m.deployment.market).call().await.expect("balance");
    let dust = paid_to_holders - claimed;
    assert_eq!(held, base(bond.total) + dust);
    assert!(dust < U256::from(4), "at most one base unit per holder");

    // The event stream saw the whole story in order.
    let mut events = LedgerEvents::new(m.governance.provider().clone(), m.deployment.clone());
    let head =
        alloy::providers::Provider::get_block_number(m.governance.provider()).await.expect("head");
    let logs = events.fetch(m.deployment.deploy_block, head).await.expect("events");
    let settled: Vec<u64> = logs
        .iter()
        .filter_map(|log| match &log.event {
            LedgerEvent::Market(LeaseMarketEvents::EpochSettled(e)) => Some(e.epoch),
            _ => None,
        })
        .collect();
    assert_eq!(settled, vec![start, start + 1]);
    assert!(
        logs.windows(2)
            .all(|w| (w[0].block_number, w[0].log_index) < (w[1].block_number, w[1].log_index))
    );
    let streamed: Vec<_> = LedgerEvents::new(m.governance.provider().clone(), m.deployment.clone())
        .stream(std::time::Duration::from_millis(50))
        .take(logs.len())
        .collect()
        .await;
    assert_eq!(streamed.len(), logs.len());
    assert!(streamed.iter().zip(&logs).all(|(s, l)| s.as_ref().expect("log").tx_hash == l.tx_hash));
}

#[tokio::test]
async fn challenged_epoch_waits_for_the_arbiter() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(8, start, 1)).await;
    assert_eq!(error_kind(m.tenant.challenge(lease, start).await), ErrorKind::NoReport);

    m.advance_past_epoch(start, 1).await;
    let capacity = 8 * u64::from(test_utils::EPOCH);
    assert_eq!(m.reports.report_of(m.cluster_id, start).await.expect("read"), None);
    let tree = m.report(start, &[(lease, capacity)]).await;
    let accepted = m.reports.report_of(m.cluster_id, start).await.expect("read").expect("stored");
    assert_eq!(accepted.deliveries_root, tree.root());
    m.tenant.challenge(lease, start).await.expect("challenge");
    assert_eq!(error_kind(m.tenant.challenge(lease, start).await), ErrorKind::AlreadyChallenged);
    m.devnet.advance(test_utils::CHALLENGE_WINDOW).await;
    assert!(m.keeper.due_epochs().await.expect("due").is_empty(), "open challenge blocks");

    let not_arbiter = Arbiter::new(m.keeper.client().clone());
    assert_eq!(
        error_kind(not_arbiter.resolve(lease, start, 0, 0, true).await),
        ErrorKind::NotArbiter
    );
    let arbiter = Arbiter::new(m.governance.clone());
    arbiter.resolve(lease, start, capacity / 2, 0, true).await.expect("resolve");
    // Upheld: the tenant's bond comes back.
    let bond = compute_ledger_sdk::withdraw_payout(m.tenant.client()).await.expect("payout");
    assert!(!base(bond).is_zero());
    let due = m.keeper.due_epochs().await.expect("due");
    assert_eq!(due[0].kind, DueKind::Resolved);
    let run = m.keeper.settle_due(&ProofBook::default(), 10).await.expect("keeper");
    assert_eq!(run.settled[0].delivered, capacity / 2);
    assert!(!base(run.settled[0].sla_credit).is_zero(), "half delivery is below the SLA");
}

#[tokio::test]
async fn owner_rotates_attestors_and_manages_the_bond() {
    let m = Market::start(10_000, 1_000).await;
    let current = m.current_epoch().await;
    let new_set = vec![m.attestors[0].address(), m.attestors[1].address()];
    assert_eq!(
        error_kind(
            m.owner.rotate_attestors(m.cluster_id, new_set.clone(), 2, current, vec![]).await
        ),
        ErrorKind::RotationNotInFuture
    );
    // No lease is open: the owner alone may rotate (say, after losing a key), but only from
    // the next epoch, so no lease created later changes attestors mid-term.
    assert_eq!(
        error_kind(
            m.owner.rotate_attestors(m.cluster_id, new_set.clone(), 2, current + 2, vec![]).await
        ),
        ErrorKind::UnconsentedRotationLater
    );

    let lease = m.owner.create_lease(&m.lease_offer(64, current + 2, 4)).await.expect("lease");
    // Now a lease relies on the set: a rotation needs the current set's threshold to consent.
    let one = vec![m.attestors[0].address()];
    assert_eq!(
        error_kind(
            m.owner.rotate_attestors(m.cluster_id, one.clone(), 1, current + 3, vec![]).await
        ),
        ErrorKind::InsufficientSignatures
    );
    let digest =
        m.owner.rotation_digest(m.cluster_id, one.clone(), 1, current + 3).await.expect("digest");
    let consent = m.attestors[..2]
        .iter()
        .map(|signer| {
            use alloy::signers::SignerSync;
            signer.sign_hash_sync(&digest).expect("sign").as_bytes().to_vec().into()
        })
        .collect();
    m.owner.rotate_attestors(m.cluster_id, one, 1, current + 3, consent).await.expect("consented");
    let bond = m.owner.bond(m.cluster_id).await.expect("bond");
    let too_much = Amount::from_base(base(bond.free()) + U256::from(1), 6);
    assert_eq!(
        error_kind(m.owner.withdraw_bond(m.cluster_id, too_much).await),
        ErrorKind::BondLocked
    );
    let before = m.owner.client().balance().await.expect("balance");
    m.owner.withdraw_bond(m.cluster_id, bond.free()).await.expect("withdraw free bond");
    let after = m.owner.client().balance().await.expect("balance");
    assert_eq!(base(after) - base(before), base(bond.free()));

    assert_eq!(
        error_kind(m.owner.deregister_cluster(m.cluster_id).await),
        ErrorKind::ClusterHasActiveLeases
    );
    m.owner.cancel_lease(lease).await.expect("cancel");
    m.owner.deregister_cluster(m.cluster_id).await.expect("deregister");
    assert_eq!(
        error_kind(m.owner.create_lease(&m.lease_offer(1, current + 3, 1)).await),
        ErrorKind::ClusterInactive
    );
}

async fn send<D: alloy::contract::CallDecoder>(
    call: alloy::contract::CallBuilder<&alloy::providers::DynProvider, D>,
) {
    call.send().await.expect("send").get_receipt().await.expect("mined");
}

/// Protocol v2 through the SDK: a report that leaves the lease out settles as unproven once its
/// proof deadline passes (the lease still ends, holders are compensated from the bond); a holder
/// challenges; the silent arbiter's deadline passes and the report stands; meanwhile the keeper
/// sends the next epoch's proof ahead of order, and returns the challenger's bond.
#[tokio::test]
async fn an_omitted_leaf_and_a_holders_challenge_still_end_the_lease() {
    let m = Market::start(10_000, 5_000).await;
    let start = m.current_epoch().await + 2;
    let lease = m.funded_lease(&m.lease_offer(8, start, 3)).await;
    let capacity = 8 * u64::from(test_utils::EPOCH);
    let alice = &m.investors[0];
    let owner_as_holder = Investor::new(m.owner.client().clone());
    owner_as_holder.transfer_shares(lease, alice.client().address(), 250_000).await.expect("move");
    assert_eq!(error_kind(m.tenant.challenge(lease, start).await), ErrorKind::NoReport);

    // Epoch `start`: the oracle's tree has no leaf for the lease (another lease's only).
    m.advance_past_epoch(start, 1).await;
    m.report(start, &[(U256::from(999), capacity)]).await;
    m.devnet.advance(test_utils::CHALLENGE_WINDOW).await;
    let run = m.keeper.settle_due(&ProofBook::default(), 10).await.expect("keeper");
    assert_eq!((run.settled.len(), run.without_proof.len()), (0, 1), "proof grace first");
    m.devnet.advance(test_utils::PROOF_GRACE + 1).await;
    let run = m.keeper.settle_due(&ProofBook::default(), 10).await.expect("keeper");
    let unproven = run.settled[0];
    assert_eq!(unproven.outcome, compute_ledger_sdk::Outcome::Unproven);
    assert!(base(unproven.rent).is_zero(), "the tenant pays nothing for it");
    assert!(!base(unproven.compensation).is_zero() && !base(unproven.sla_credit).is_zero());
    let compensation = base(unproven.compensation);
    assert_eq!(
        base(alice.claimable(lease).await.expect("claimable")),
        compensation / U256::from(4),
        "holders get their share of a full epoch's rent from the bond"
    );

    // Epoch `start + 1`: reported in full; alice (a holder, not the tenant) challenges it.
    let mut proofs = ProofBook::default();
    m.advance_past_epoch(start + 1, 1).await;
    proofs.insert(m.cluster_id, start + 1, m.report(start + 1, &[(lease, capacity)]).await);
    let bond = alice.challenge(lease, start + 1).await.expect("holder challenges");
    assert!(!base(bond).is_zero());
    // Epoch `start + 2` is reported and its window closes while `start + 1` is challenged: the
    // keeper sends its proof ahead, so it can never be pushed into unproven.
    m.advance_past_epoch(start + 2, 1).await;
    proofs.insert(m.cluster_id, start + 2, m.report(start + 2, &[(lease, capacity)]).await);
    m.devnet.advance(test_utils::CHALLENGE_WINDOW).await;
    let run = m.keeper.settle_due(&proofs, 10).await.expect("keeper");
    assert!(run.settled.is_empty(), "the challenge blocks settlement");
    assert_eq!(run.proven_ahead.len(), 1);
    assert_eq!(run.proven_ahead[0].epoch, start + 2);

    // The arbiter stays silent: after its deadline the report stands, everything settles and the
    // keeper closes the challenge, returning alice's bond.
    m.devnet.advance(test_utils::RESOLUTION_WINDOW + test_utils::PROOF_GRACE + 1).await;
    let run = m.keeper.settle_due(&proofs, 10).await.expect("keeper");
    let outcomes: Vec<_> = run.settled.iter().map(|s| (s.epoch, s.outcome, s.delivered)).collect();
    let proven = compute_ledger_sdk::Outcome::Proven;
    assert_eq!(outcomes, vec![(start + 1, proven, capacity), (start + 2, proven, capacity)]);
    assert_eq!(run.expired_challenges, 1);
    assert_eq!(m.keeper.client().lease(lease).await.expect("lease").status, LeaseStatus::Ended);
    assert_eq!(alice.withdraw_payout().await.expect("bond back"), bond);
}

/// Four leases of two missed epochs each, past the report deadline: eight due epochs.
async fn four_leases_with_two_missed_epochs(m: &Market) -> Vec<U256> {
    let start = m.current_epoch().await + 2;
    let mut leases = Vec::new();
    for _ in 0..4 {
        leases.push(m.funded_lease(&m.lease_offer(2, start, 2)).await);
    }
    m.advance_past_epoch(start + 1, test_utils::REPORT_WINDOW + 1).await;
    leases
}

#[tokio::test]
async fn an_item_that_would_revert_is_skipped_and_the_rest_of_its_batch_settles() {
    let m = Market::start(10_000, 5_000).await;
    let leases = four_leases_with_two_missed_epochs(&m).await;
    let due = m.keeper.due_epochs().await.expect("due");
    assert_eq!(due.len(), 8);
    assert!(due.iter().all(|d| d.kind == DueKind::Missed), "{due:?}");

    // Another keeper settles the first epochs of leases 1 and 3 after the list was made.
    let other = compute_ledger_sdk::Keeper::new(m.devnet.client(&m.deployment, 8).await);
    for lease in [leases[1], leases[3]] {
        let first = due.iter().find(|d| d.lease_id == lease).expect("listed");
        other.settle_missed(lease, first.epoch).await.expect("the other keeper settles");
    }

    // One batch of all eight: the two settled items fail simulation; each is found and left out
    // with the contract's reason, and so is the later epoch of its lease (it cannot settle
    // before it, as far as this round knows); the other four settle in one transaction.
    let run = m.keeper.settle_epochs(&due, &ProofBook::default(), 10).await.expect("round");
    assert_eq!(run.transactions, 1, "{run:?}");
    let settled: Vec<(U256, u64)> = run.settled.iter().map(|s| (s.lease_id, s.epoch)).collect();
    let expected: Vec<(U256, u64)> = due
        .iter()
        .filter(|d| d.lease_id == leases[0] || d.lease_id == leases[2])
        .map(|d| (d.lease_id, d.epoch))
        .collect();
    assert_eq!(settled, expected);
    assert_eq!(run.skipped.len(), 4, "{:?}", run.skipped);
    for lease in [leases[1], leases[3]] {
        let skipped: Vec<_> = run.skipped.iter().filter(|s| s.due.lease_id == lease).collect();
        assert_eq!(skipped.len(), 2);
        assert!(skipped[0].already_settled, "{:?}", skipped[0]);
        assert!(skipped[0].reason.contains("EpochAlreadySettled"), "{}", skipped[0].reason);
        assert!(!skipped[1].already_settled);
        assert!(skipped[1].reason.contains("earlier epoch"), "{}", skipped[1].reason);
    }

    // The next round settles what was left.
    let run = m.keeper.settle_due(&ProofBook::default(), 10).await.expect("next round");
    assert_eq!(run.settled.len(), 2);
    for lease in leases {
        assert_eq!(m.governance.lease(lease).await.expect("lease").status, LeaseStatus::Ended);
    }
}

#[tokio::test]
async fn two_keepers_racing_over_the_same_epochs_both_finish_and_settle_each_once() {
    let m = Market::start(10_000, 5_000).await;
    let leases = four_leases_with_two_missed_epochs(&m).await;
    let stablecoin = m.governance.stablecoin();
    let held_before =
        stablecoin.balanceOf(m.deployment.market).call().await.expect("market balance");
    let first = m.keeper.clone();
    let second = compute_ledger_sdk::Keeper::new(m.devnet.client(&m.deployment, 8).await);

    // Both rounds start together and see the same eight due epochs; batches of three.
    let proofs = ProofBook::default();
    let (a, b) = tokio::join!(first.settle_due(&proofs, 3), second.settle_due(&proofs, 3));
    let (a, b) = (a.expect("first keeper's round"), b.expect("second keeper's round"));
    let mut settled: Vec<(U256, u64)> =
        a.settled.iter().chain(&b.settled).map(|s| (s.lease_id, s.epoch)).collect();
    settled.sort();
    let mut on_chain = Vec::new();
    let mut events = LedgerEvents::new(m.governance.provider().clone(), m.deployment.clone());
    let head =
        alloy::providers::Provider::get_block_number(m.governance.provider()).await.expect("head");
    for log in events.fetch(m.deployment.deploy_block, head).await.expect("logs") {
        if let LedgerEvent::Market(LeaseMarketEvents::EpochSettled(e)) = log.event {
            on_chain.push((e.leaseId, e.epoch));
        }
    }
    on_chain.sort();
    assert_eq!(on_chain.len(), 8, "every epoch settled exactly once: {on_chain:?}");
    on_chain.dedup();
    assert_eq!(on_chain.len(), 8, "an epoch settled twice");
    assert_eq!(settled, on_chain, "each round reports what it settled");
    for lease in leases {
        assert_eq!(m.governance.lease(lease).await.expect("lease").status, LeaseStatus::Ended);
    }
    // Settlement moves money inside the market only: nothing lost, nothing paid twice.
    let held_after = stablecoin.balanceOf(m.deployment.market).call().await.expect("balance");
    assert_eq!(held_after, held_before);
}
