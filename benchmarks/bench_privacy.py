"""Settling in public (CommunityMarket) or committed (CommittedSettlement): gas per household-slot
and what an outsider reading the chain can still learn, measured side by side in one run.

For communities of 10 and 50 households, one seeded day of appliance-level households
(:mod:`daisee_lab.appliances`) gives each household's energy per 15-minute slot (VA taken as
W); a third of the homes also export a seeded PV surplus. The same `SLOTS` slots are settled

- by a CommunityMarket (:func:`daisee_lab.contracts.deploy_community`, ``settle_energy``): one
  transaction per slot carrying every meter's signed reading, so every household's energy per
  slot is public; gas per household-slot is the settle transactions' gas over households x slots;
- by a CommittedSettlement (:func:`daisee_lab.committed.deploy_committed`): one transaction
  publishing a root and the totals for all the slots (and, for comparison, one per slot); then
  one household disputes a changed leaf (its gas is paid once, by the disputer).

What an outsider learns is measured with :func:`daisee_lab.privacy.event_survival`: the recall
of the first home's appliance switches from what the chain shows, that home's own 15-minute
curve (public design) or the community's 15-minute total (committed design, n >= k). Prints a
table (markdown with ``--markdown``).
"""

import argparse
from dataclasses import replace

import numpy as np
import pandas as pd
from eth_account import Account
from eth_utils import keccak

from daisee_lab import privacy
from daisee_lab.appliances import simulate_days
from daisee_lab.chain import Chain
from daisee_lab.committed import deploy_committed
from daisee_lab.contracts import SLOT_SECONDS, deploy_community, make_members

SIZES = (10, 50)
SLOTS = 8
BUY, SELL = 251_600, 130_000
EVENING = 72  # the first settled slot of the day: 18:00, when homes are busy


def energy(days, slots=SLOTS, seed=0):
    """Wh per slot from the households' days, (households, slots) from 18:00; a third export."""
    cons = np.array([np.rint(privacy.resample(d.power_va, "15min").to_numpy()
                             [EVENING:EVENING + slots] / 4) for d in days], dtype=np.int64)
    rng = np.random.default_rng(seed)
    prod = np.where(np.arange(len(days))[:, None] % 3 == 0,
                    rng.integers(0, 400, cons.shape), 0).astype(np.int64)
    return cons, prod


def households(chain, n, seed):
    accounts = [chain.accounts[1].address] + [
        Account.from_key(keccak(text=f"bench privacy {seed} {i}")).address for i in range(1, n)]
    return make_members(accounts, seed=seed)


def public_gas(n, cons, prod):
    chain = Chain(accounts=2)
    community = deploy_community(chain, chain.accounts[0], households(chain, n, 1), BUY, SELL)
    community.fund({h.account: 50_000_000 for h in community.households})
    first = chain.timestamp // SLOT_SECONDS - SLOTS - 2
    community.settle_energy(cons, prod, first)
    records = chain.gas.to_dataframe()
    # settles[0] anchors the meters
    settles = records[records.function == "settle"].gas_used.to_numpy()[1:]
    return settles.sum() / (n * SLOTS)


def committed_gas(n, cons, prod):
    chain = Chain(accounts=2)
    community = deploy_committed(chain, chain.accounts[0], households(chain, n, 2), BUY, SELL)
    first = chain.timestamp // SLOT_SECONDS - 2 * SLOTS - 2
    batched = community.settle_energy(cons, prod, first).receipt.gas_used / (n * SLOTS)
    victim = community.households[0]

    def cheat(leaf):
        """The operator cheats: the victim's leaf of the first slot, one µ€ dearer."""
        return (replace(leaf, payment_ueur=leaf.payment_ueur + 1)
                if leaf.meter == victim.meter and leaf.slot == first + SLOTS else leaf)

    one = [community.settle_energy(cons[:, t:t + 1], prod[:, t:t + 1], first + SLOTS + t,
                                   alter=cheat) for t in range(SLOTS)]
    per_slot = sum(b.receipt.gas_used for b in one) / (n * SLOTS)
    dispute = community.dispute(victim, one[0].statement(victim, first + SLOTS)).gas_used
    return batched, per_slot, dispute


def outsider_recall(days):
    """Recall of the first home's switches (18:00 to midnight) in its own 15-min curve and in
    the community's 15-min total."""
    truth = days[0].events[days[0].events.time.dt.hour >= 18]
    evening = lambda s: s[s.index.hour >= 18]  # noqa: E731
    own = privacy.event_survival(truth, evening(privacy.resample(days[0].power_va, "15min")))
    total = privacy.aggregate([d.power_va for d in days])
    summed = privacy.event_survival(truth, evening(privacy.resample(total, "15min")))
    return own.recall, summed.recall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    rows = []
    for n in SIZES:
        days = simulate_days(range(n))
        cons, prod = energy(days)
        own, summed = outsider_recall(days)
        batched, per_slot, dispute = committed_gas(n, cons, prod)
        rows.append({"households": n, "design": "CommunityMarket (public)",
                     "gas per household-slot": round(public_gas(n, cons, prod)),
                     "outsider sees": "every household's Wh per slot",
                     "one home's switches seen (15 min)": f"{own:.0%}"})
        rows.append({"households": n, "design": f"CommittedSettlement, {SLOTS} slots per tx",
                     "gas per household-slot": round(batched),
                     "outsider sees": "totals per slot (n >= k), roots",
                     "one home's switches seen (15 min)": f"{summed:.0%} (in the total)"})
        rows.append({"households": n, "design": "CommittedSettlement, 1 slot per tx",
                     "gas per household-slot": round(per_slot), "outsider sees": "same",
                     "one home's switches seen (15 min)": "same"})
        rows.append({"households": n, "design": "a dispute (once, by the household)",
                     "gas per household-slot": dispute,
                     "outsider sees": "that household's leaf, two readings",
                     "one home's switches seen (15 min)": "its slot"})
    table = pd.DataFrame(rows)
    if args.markdown:
        print("| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns))
        for row in table.itertuples(index=False):
            print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |")
    else:
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
