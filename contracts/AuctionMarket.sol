// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1363} from "@openzeppelin/contracts/interfaces/IERC1363.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MeterRegistry} from "./MeterRegistry.sol";

/// @title AuctionMarket: a sealed-bid double auction per 15-minute slot, cleared by verification.
/// @notice Commit: until the reveal window of delivery slot `s` opens (`revealSeconds` before the
/// slot starts), a trader commits keccak256(abi.encode(market, s, trader, isBid, price, qty,
/// salt)) with a deposit of credits (µ€). The hash hides the order and binds the trader: a
/// copied commitment can never be opened by the copier. The deposit shows only an upper bound.
/// Reveal: in the window, the trader opens its commitment. A bid's deposit must cover
/// ceil(price · qty / 1000) µ€; an ask, from a household with a registered meter, must cover
/// its bond ceil(qty · gridBuy / 1000), what buying that energy from the grid would cost.
/// Clear: once the slot has started, anyone submits the merit order (the permutations sorting
/// bids by price high to low and asks low to high, ties by reveal order) with the volume and
/// uniform price found off chain by `daisee_lab.settlement.clear_double_auction` (rule
/// "midpoint"). The contract checks that the permutations are sorted, walks the two books once
/// to recompute the matching (no sorting on chain), pays at the submitted price as it goes, and
/// reverts unless the volume and price it finds are the ones submitted. Buyers pay
/// ceil(fill · price / 1000) into the community account, sellers get floor(fill · price / 1000),
/// the difference is the community's rounding; unused escrow is refunded; the deposits of
/// commitments never revealed are forfeited to the community.
/// Deliver: after the slot, a seller's meter readings at the end of slots s-1 and s show what it
/// exported; its sales of the slot draw on it in the order they were revealed, whoever settles
/// them and in whatever order (a proof copied onto another sale settles it as its seller
/// would). Every Wh sold but not delivered is charged to its bond at the grid price and paid to
/// the grid account. A sale nobody shows delivered within `deliverySeconds` loses its bond.
/// Flooding: only the community's households (accounts with a registered meter) trade; each
/// seals at most MAX_COMMITS orders a round and opens at most MAX_ORDERS_PER_TRADER bids and as
/// many asks, each of at least MIN_ORDER_WH (the commitments it cannot open are forfeited); the
/// registry stops at `maxOrders / MAX_ORDERS_PER_TRADER` households, so a side's `maxOrders`
/// places always hold every member's orders: nobody can fill the book to keep others out, and
/// a clearing always fits in a block (about 10,000 gas per order). The views page.
/// Payments are pull payments (`withdraw`), checks-effects-interactions.
contract AuctionMarket is MeterRegistry {
    using SafeERC20 for IERC1363;

    uint256 public constant SLOT_SECONDS = 900;
    // The bounds of daisee_lab/units.py (tests/test_contracts_auction.py checks they agree, and
    // tests/test_units_bounds.py that every stored number holds its largest value): a round the
    // contract accepts is one the clearing kernel clears, since MAX_ORDERS orders of
    // MAX_ORDER_WH make at most the kernel's MAX_WH per side.
    uint256 public constant MAX_PRICE = 10_000_000; // µ€/kWh
    uint256 public constant MIN_ORDER_WH = 10; // Wh per order, at least
    uint256 public constant MAX_ORDER_WH = 400_000_000; // Wh per order
    uint256 public constant MAX_ORDERS = 1000; // revealed orders per side and round, at most
    uint256 public constant MAX_ORDERS_PER_TRADER = 2; // revealed orders per trader and side
    uint256 public constant MAX_MEMBERS = MAX_ORDERS / MAX_ORDERS_PER_TRADER; // households
    uint256 public constant MAX_COMMITS = 16; // commitments per trader and round
    uint256 public constant MAX_DEPOSIT = type(uint64).max; // µ€ per commitment

    /// A sealed order, its trader and deposit (µ€); `hash` is zeroed once revealed.
    struct Commitment {
        address trader;
        uint96 deposit;
        bytes32 hash;
    }

    /// A revealed order. `escrow` is what it still locks (µ€): the deposit until clearing, then
    /// nothing for a bid and the delivery bond for an ask. `filled` is set by the clearing (Wh).
    /// `prior` is 1 + the index of the same seller's previous ask in the round (0: none).
    struct Order {
        address trader;
        uint24 price;
        uint40 qty;
        uint96 escrow;
        uint40 filled;
        uint32 prior;
    }

    /// A slot's auction: deposits committed and revealed (µ€), and its clearing.
    struct Round {
        uint88 committed;
        uint88 revealed;
        bool cleared;
        uint24 price;
        uint48 volume;
    }

    /// What a trader did in a round: commitments, revealed bids and asks, and 1 + the index of
    /// its last ask (0: none).
    struct Tally {
        uint8 commits;
        uint8 bids;
        uint8 asks;
        uint32 lastAsk;
    }

    /// A seller's export in a slot (Wh), once measured from its readings.
    struct Export {
        bool measured;
        uint248 exportedWh;
    }

    /// One side of the book while clearing walks it in merit order.
    struct Cursor {
        uint256 pos; // position in the permutation
        uint256 index; // the order at that position
        uint256 price;
        uint256 left; // Wh not matched yet
        uint256 fill; // Wh matched
    }

    /// The running totals of a clearing; `price` and `volume` are the submitted result.
    struct Pass {
        uint256 price;
        uint256 volume;
        uint256 matched;
        uint256 lastBid; // b_k, price of the bid of the last matched Wh
        uint256 lastAsk; // s_k
        uint256 inflow; // µ€ paid by buyers
        uint256 outflow; // µ€ paid to sellers
    }

    IERC1363 public immutable credit;
    address public immutable grid;
    uint256 public immutable gridBuy; // µ€/kWh, the price of energy a seller failed to deliver
    uint256 public immutable revealSeconds;
    uint256 public immutable deliverySeconds;
    uint256 public immutable maxOrders; // revealed orders per side and round

    mapping(uint32 slot => Round) public rounds;
    mapping(uint32 slot => Commitment[]) internal _commitments;
    mapping(uint32 slot => Order[]) internal _bids;
    mapping(uint32 slot => Order[]) internal _asks;
    mapping(uint32 slot => mapping(address meter => Export)) internal _exports;
    mapping(uint32 slot => mapping(address trader => Tally)) internal _tallies;
    /// Credits each trader (or the grid) can withdraw, µ€.
    mapping(address account => uint256) public balanceOf;
    /// The community's account: rounding and forfeited deposits, µ€.
    uint256 public communityBalance;

    event Committed(uint32 indexed slot, uint256 id, address indexed trader, bytes32 hash,
                    uint256 deposit);
    event Revealed(uint32 indexed slot, uint256 id, address indexed trader, bool isBid,
                   uint256 index, uint256 price, uint256 qty);
    event Cleared(uint32 indexed slot, uint256 volume, uint256 price, uint256 rounding,
                  uint256 forfeited);
    event Delivered(uint32 indexed slot, uint256 ask, address indexed seller,
                    uint256 deliveredWh, uint256 shortWh, uint256 charge);
    event Withdrawn(address indexed account, uint256 amount);
    event CommunityWithdrawn(address indexed to, uint256 amount);

    error BadSettings(uint256 gridBuy, uint256 revealSeconds, uint256 maxOrders);
    error ZeroAmount();
    error DepositTooLarge(uint256 deposit);
    error CommitClosed(uint32 slot, uint256 closedAt);
    error RevealNotOpen(uint32 slot, uint256 opensAt);
    error RevealClosed(uint32 slot, uint256 closedAt);
    error UnknownCommitment(uint32 slot, uint256 id);
    error NotYourCommitment(uint32 slot, uint256 id, address trader);
    error BadReveal(uint32 slot, uint256 id);
    error BadOrder(uint256 price, uint256 qty);
    error InsufficientDeposit(uint256 deposit, uint256 required);
    error NotAMember(address account);
    error TooManyMembers(uint256 most);
    error BookFull(uint32 slot, bool bids);
    error TooManyCommitments(uint32 slot, address trader, uint256 most);
    error TooManyOrders(uint32 slot, address trader, bool bids, uint256 most);
    error ClearingTooEarly(uint32 slot, uint256 opensAt);
    error AlreadyCleared(uint32 slot);
    error WrongOrderCount(bool bids, uint256 given, uint256 revealed);
    error NotMeritOrder(bool bids, uint256 position);
    error WrongClearing(uint256 volume, uint256 price);
    error UnknownOrder(uint32 slot, uint256 ask);
    error NothingToSettle(uint32 slot, uint256 ask);
    error DeliveryNotOver(uint32 slot, uint256 endsAt);
    error DeliveryWindowOpen(uint32 slot, uint256 closesAt);
    error WrongMeter(address meter, address sellerMeter);
    error DeliveryNotMeasurable(address meter, uint32 lastSlot);
    error InsufficientBalance(address account, uint256 balance, uint256 amount);
    error ReadingsOnlyForDelivery();

    /// @param operator registers meters and withdraws the community account.
    /// @param gridBuy_ µ€/kWh charged for energy sold and not delivered (paid to `grid_`).
    /// @param revealSeconds_ length of the reveal window, which ends when the slot starts.
    /// @param deliverySeconds_ time after the slot for a seller to show its delivery.
    /// @param maxOrders_ revealed orders per side and round (MAX_ORDERS_PER_TRADER to
    /// MAX_ORDERS); the market registers at most maxOrders_ / MAX_ORDERS_PER_TRADER households.
    constructor(address operator, IERC1363 credit_, address grid_, uint256 gridBuy_,
                uint256 revealSeconds_, uint256 deliverySeconds_, uint256 maxOrders_)
        MeterRegistry(operator)
    {
        if (address(credit_) == address(0) || grid_ == address(0)) revert ZeroAddress();
        if (gridBuy_ > MAX_PRICE || revealSeconds_ == 0 || maxOrders_ < MAX_ORDERS_PER_TRADER
            || maxOrders_ > MAX_ORDERS) {
            revert BadSettings(gridBuy_, revealSeconds_, maxOrders_);
        }
        (credit, grid, gridBuy) = (credit_, grid_, gridBuy_);
        (revealSeconds, deliverySeconds) = (revealSeconds_, deliverySeconds_);
        maxOrders = maxOrders_;
    }

    /// @notice How many households the market registers at most: each finds room in the book
    /// for its MAX_ORDERS_PER_TRADER orders of each side.
    function maxMembers() public view returns (uint256) {
        return maxOrders / MAX_ORDERS_PER_TRADER;
    }

    /// A registration beyond `maxMembers` could let the members fill the book: refused.
    function _checkRegistration(Registration calldata reg) internal view override {
        if (meterCount >= maxMembers()) revert TooManyMembers(maxMembers());
        super._checkRegistration(reg);
    }

    // --- commit and reveal ----------------------------------------------------------------

    /// @notice The hash that seals an order of `trader` for `slot` in this market.
    function commitmentHash(uint32 slot, address trader, bool isBid, uint256 price, uint256 qty,
                            bytes32 salt) public view returns (bytes32)
    {
        return keccak256(abi.encode(address(this), slot, trader, isBid, price, qty, salt));
    }

    /// @notice Seal an order for `slot` with `deposit` µ€ of the caller's credits (approved to
    /// the market); returns the commitment's id. Only households with a registered meter trade.
    function commit(uint32 slot, bytes32 hash, uint256 deposit) external returns (uint256 id) {
        uint256 opens = uint256(slot) * SLOT_SECONDS - revealSeconds;
        if (block.timestamp >= opens) revert CommitClosed(slot, opens);
        if (deposit == 0) revert ZeroAmount();
        if (deposit > MAX_DEPOSIT) revert DepositTooLarge(deposit);
        if (meterOf[msg.sender] == address(0)) revert NotAMember(msg.sender);
        Tally storage tally = _tallies[slot][msg.sender];
        if (tally.commits == MAX_COMMITS) revert TooManyCommitments(slot, msg.sender, MAX_COMMITS);
        ++tally.commits;
        id = _commitments[slot].length;
        _commitments[slot].push(Commitment(msg.sender, uint96(deposit), hash));
        rounds[slot].committed += uint88(deposit);
        emit Committed(slot, id, msg.sender, hash, deposit);
        credit.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @notice Open commitment `id` of `slot`: the order becomes the next bid or ask.
    function reveal(uint32 slot, uint256 id, bool isBid, uint256 price, uint256 qty, bytes32 salt)
        external
    {
        uint256 closes = uint256(slot) * SLOT_SECONDS;
        if (block.timestamp < closes - revealSeconds) {
            revert RevealNotOpen(slot, closes - revealSeconds);
        }
        if (block.timestamp >= closes) revert RevealClosed(slot, closes);
        if (id >= _commitments[slot].length) revert UnknownCommitment(slot, id);
        Commitment storage c = _commitments[slot][id];
        if (c.trader != msg.sender) revert NotYourCommitment(slot, id, c.trader);
        if (c.hash != commitmentHash(slot, msg.sender, isBid, price, qty, salt)) {
            revert BadReveal(slot, id);
        }
        if (price > MAX_PRICE || qty < MIN_ORDER_WH || qty > MAX_ORDER_WH) {
            revert BadOrder(price, qty);
        }
        uint256 required = Math.ceilDiv((isBid ? price : gridBuy) * qty, 1000);
        if (c.deposit < required) revert InsufficientDeposit(c.deposit, required);
        Order[] storage side = isBid ? _bids[slot] : _asks[slot];
        // With at most maxMembers households, each holding at most MAX_ORDERS_PER_TRADER
        // orders a side, a book is full only if the registry changed during the round.
        if (side.length == maxOrders) revert BookFull(slot, isBid);
        uint32 prior = _count(slot, isBid, side.length);
        c.hash = 0;
        rounds[slot].revealed += uint88(c.deposit);
        side.push(Order(msg.sender, uint24(price), uint40(qty), c.deposit, 0, prior));
        emit Revealed(slot, id, msg.sender, isBid, side.length - 1, price, qty);
    }

    /// Count the caller's order about to be revealed at `index` of a side of `slot`, refusing
    /// more than MAX_ORDERS_PER_TRADER; for an ask, return 1 + the index of the caller's
    /// previous ask in the round (0: none).
    function _count(uint32 slot, bool isBid, uint256 index) internal returns (uint32 prior) {
        Tally storage tally = _tallies[slot][msg.sender];
        uint256 held = isBid ? tally.bids : tally.asks;
        if (held == MAX_ORDERS_PER_TRADER) {
            revert TooManyOrders(slot, msg.sender, isBid, MAX_ORDERS_PER_TRADER);
        }
        if (isBid) {
            tally.bids = uint8(held + 1);
        } else {
            (prior, tally.asks, tally.lastAsk) = (tally.lastAsk, uint8(held + 1),
                                                  SafeCast.toUint32(index + 1));
        }
    }

    // --- clearing -------------------------------------------------------------------------

    /// @notice Clear `slot`: `bidOrder` and `askOrder` list the revealed bids and asks (by
    /// reveal index) in merit order; `volume` (Wh) and `price` (µ€/kWh, 0 when nothing trades)
    /// are the result they give. Anyone may submit it; any other result reverts.
    function clear(uint32 slot, uint32[] calldata bidOrder, uint32[] calldata askOrder,
                   uint256 volume, uint256 price) external {
        Round storage round = rounds[slot];
        if (block.timestamp < uint256(slot) * SLOT_SECONDS) {
            revert ClearingTooEarly(slot, uint256(slot) * SLOT_SECONDS);
        }
        if (round.cleared) revert AlreadyCleared(slot);
        Pass memory p = Pass(price, volume, 0, 0, 0, 0, 0);
        uint256 found = _match(_bids[slot], _asks[slot], bidOrder, askOrder, p);
        if (p.matched != volume || found != price) revert WrongClearing(volume, price);
        uint256 rounding = p.inflow - p.outflow;
        uint256 forfeited = round.committed - round.revealed;
        communityBalance += rounding + forfeited;
        (round.cleared, round.price, round.volume) =
            (true, SafeCast.toUint24(price), SafeCast.toUint48(volume));
        emit Cleared(slot, volume, price, rounding, forfeited);
    }

    /// @notice The operator ends a round that cannot clear (its clearing reverts): no trade,
    /// every revealed order's deposit returns to its trader, unrevealed deposits are forfeited
    /// as in a clearing. The room goes on.
    function voidRound(uint32 slot) external onlyRole(OPERATOR_ROLE) {
        Round storage round = rounds[slot];
        if (block.timestamp < uint256(slot) * SLOT_SECONDS) {
            revert ClearingTooEarly(slot, uint256(slot) * SLOT_SECONDS);
        }
        if (round.cleared) revert AlreadyCleared(slot);
        _refund(_bids[slot]);
        _refund(_asks[slot]);
        uint256 forfeited = round.committed - round.revealed;
        communityBalance += forfeited;
        round.cleared = true;
        emit Cleared(slot, 0, 0, 0, forfeited);
    }

    function _refund(Order[] storage side) internal {
        for (uint256 i = 0; i < side.length; ++i) {
            Order storage o = side[i];
            balanceOf[o.trader] += o.escrow;
            o.escrow = 0;
        }
    }

    /// Walk both books once in the given orders: match, settle every order at `p.price`, check
    /// the merit order; return the midpoint price the matching gives (0 if nothing trades).
    function _match(Order[] storage bids, Order[] storage asks, uint32[] calldata bidOrder,
                    uint32[] calldata askOrder, Pass memory p) internal returns (uint256 found) {
        if (bidOrder.length != bids.length) {
            revert WrongOrderCount(true, bidOrder.length, bids.length);
        }
        if (askOrder.length != asks.length) {
            revert WrongOrderCount(false, askOrder.length, asks.length);
        }
        Cursor memory b = _start(bids, bidOrder, true);
        Cursor memory a = _start(asks, askOrder, false);
        // Match the best remaining bid with the best remaining ask while the bid is not lower.
        while (b.pos < bids.length && a.pos < asks.length && b.price >= a.price) {
            uint256 wh = Math.min(b.left, a.left);
            (p.matched, p.lastBid, p.lastAsk) = (p.matched + wh, b.price, a.price);
            (b.left, b.fill, a.left, a.fill) = (b.left - wh, b.fill + wh, a.left - wh, a.fill + wh);
            if (b.left == 0) _advance(bids, bidOrder, b, p, true);
            if (a.left == 0) _advance(asks, askOrder, a, p, false);
        }
        // The next Wh on each side, b_{k+1} and s_{k+1} (none: 0 and infinity), and b_k, s_k
        // bound the prices that clear the market; the rule takes the middle of that interval.
        if (p.matched > 0) {
            uint256 lo = Math.max(p.lastAsk, b.pos < bids.length ? b.price : 0);
            uint256 hi = a.pos < asks.length ? Math.min(p.lastBid, a.price) : p.lastBid;
            found = (lo + hi) / 2;
        }
        while (b.pos < bids.length) _advance(bids, bidOrder, b, p, true);
        while (a.pos < asks.length) _advance(asks, askOrder, a, p, false);
    }

    /// Open a cursor on the first order of a side's permutation.
    function _start(Order[] storage side, uint32[] calldata order, bool isBid)
        internal view returns (Cursor memory c)
    {
        if (order.length > 0) _load(side, order, c, isBid);
    }

    /// Settle the order under the cursor with its fill, then move to the next one, checking that
    /// it comes after the previous one in merit order.
    function _advance(Order[] storage side, uint32[] calldata order, Cursor memory c,
                      Pass memory p, bool isBid) internal {
        Order storage o = side[c.index];
        (uint256 escrow, uint256 fill) = (o.escrow, c.fill);
        uint256 refund;
        if (isBid) {
            uint256 paid = Math.ceilDiv(fill * p.price, 1000);
            if (paid > escrow) revert WrongClearing(p.volume, p.price); // price above the bid
            (p.inflow, refund, escrow) = (p.inflow + paid, escrow - paid, 0);
        } else {
            uint256 earned = fill * p.price / 1000;
            uint256 bond = Math.ceilDiv(fill * gridBuy, 1000);
            (p.outflow, refund, escrow) = (p.outflow + earned, earned + escrow - bond, bond);
        }
        (o.escrow, o.filled) = (SafeCast.toUint96(escrow), SafeCast.toUint40(fill));
        if (refund > 0) balanceOf[o.trader] += refund;
        (uint256 lastIndex, uint256 lastPrice) = (c.index, c.price);
        if (++c.pos == order.length) return;
        _load(side, order, c, isBid);
        bool sorted = isBid ? c.price < lastPrice : c.price > lastPrice;
        if (!sorted && !(c.price == lastPrice && c.index > lastIndex)) {
            revert NotMeritOrder(isBid, c.pos);
        }
    }

    function _load(Order[] storage side, uint32[] calldata order, Cursor memory c, bool isBid)
        internal view
    {
        uint256 index = order[c.pos];
        if (index >= side.length) revert NotMeritOrder(isBid, c.pos);
        Order storage o = side[index];
        (c.index, c.price, c.left, c.fill) = (index, o.price, o.qty, 0);
    }

    // --- delivery -------------------------------------------------------------------------

    /// @notice Settle ask `ask` of `slot` from what its seller exported in the slot, measured
    /// once by `readings` at the end of slot s-1 and of slot s (only s if the meter's last
    /// reading is at s-1); once measured, readings may be left out and any given are not used.
    /// The seller's sales draw on its export in reveal order, whatever order they are settled
    /// in. Every Wh sold and not delivered is charged to the bond at `gridBuy`; the rest of the
    /// bond returns.
    function settleDelivery(uint32 slot, uint256 ask, SignedReading[] calldata readings) external {
        if (block.timestamp < (uint256(slot) + 1) * SLOT_SECONDS) {
            revert DeliveryNotOver(slot, (uint256(slot) + 1) * SLOT_SECONDS);
        }
        Order storage o = _sale(slot, ask);
        address sellerMeter = meterOf[o.trader];
        Export storage export = _exports[slot][sellerMeter];
        if (!export.measured) {
            uint256 measured = _measure(slot, sellerMeter, readings);
            (export.measured, export.exportedWh) = (true, uint248(measured));
        }
        uint256 before; // Wh the seller's earlier sales of the slot draw first
        Order[] storage asks = _asks[slot];
        for (uint256 p = o.prior; p != 0; p = asks[p - 1].prior) before += asks[p - 1].filled;
        uint256 left = export.exportedWh - Math.min(export.exportedWh, before);
        uint256 delivered = Math.min(o.filled, left);
        _closeSale(slot, ask, o, delivered, o.filled - delivered);
    }

    /// The Wh `meter` exported during `slot`, from its signed readings (stored as its last ones).
    function _measure(uint32 slot, address meter, SignedReading[] calldata readings)
        internal returns (uint256 exported)
    {
        if (readings.length == 0) revert DeliveryNotMeasurable(meter, uint32(_records[meter]));
        bytes32 domain = _domainSeparatorV4();
        for (uint256 i = 0; i < readings.length; ++i) {
            uint32 at = i + 1 == readings.length ? slot : slot - 1;
            (address signer, uint256 record,, uint256 exportedWh) =
                _verify(domain, at, readings[i]);
            if (signer != meter) revert WrongMeter(signer, meter);
            if (at == slot && uint32(_records[meter]) != slot - 1) {
                revert DeliveryNotMeasurable(meter, uint32(_records[meter]));
            }
            _records[meter] = record;
            exported = exportedWh;
        }
    }

    /// @notice After the delivery window, a sale nobody showed delivered: its whole bond goes to
    /// the grid.
    function settleUndelivered(uint32 slot, uint256 ask) external {
        uint256 closes = (uint256(slot) + 1) * SLOT_SECONDS + deliverySeconds;
        if (block.timestamp < closes) revert DeliveryWindowOpen(slot, closes);
        Order storage o = _sale(slot, ask);
        _closeSale(slot, ask, o, 0, o.filled);
    }

    function _sale(uint32 slot, uint256 ask) internal view returns (Order storage o) {
        if (ask >= _asks[slot].length) revert UnknownOrder(slot, ask);
        o = _asks[slot][ask];
        if (o.filled == 0 || o.escrow == 0) revert NothingToSettle(slot, ask);
    }

    function _closeSale(uint32 slot, uint256 ask, Order storage o, uint256 delivered,
                        uint256 short) internal {
        uint256 bond = o.escrow;
        uint256 charge = Math.min(bond, Math.ceilDiv(short * gridBuy, 1000));
        o.escrow = 0;
        balanceOf[grid] += charge;
        balanceOf[o.trader] += bond - charge;
        emit Delivered(slot, ask, o.trader, delivered, short, charge);
    }

    // --- money out and views --------------------------------------------------------------

    /// @notice How many orders `trader` committed for `slot`.
    function commitsOf(uint32 slot, address trader) external view returns (uint256) {
        return _tallies[slot][trader].commits;
    }

    /// @notice How many bids (or asks) `trader` revealed for `slot`.
    function ordersOf(uint32 slot, address trader, bool bids) external view returns (uint256) {
        Tally storage tally = _tallies[slot][trader];
        return bids ? tally.bids : tally.asks;
    }

    /// @notice Withdraw `amount` µ€ of the caller's balance (refunds, sales, bond returns).
    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balanceOf[msg.sender];
        if (amount > balance) revert InsufficientBalance(msg.sender, balance, amount);
        balanceOf[msg.sender] = balance - amount;
        emit Withdrawn(msg.sender, amount);
        credit.transferAndCallRelaxed(msg.sender, amount, "");
    }

    /// @notice Pay `amount` µ€ of the community account (rounding, forfeits) to `to`.
    function withdrawCommunity(address to, uint256 amount) external onlyRole(OPERATOR_ROLE) {
        uint256 held = communityBalance;
        if (amount > held) revert InsufficientBalance(address(this), held, amount);
        communityBalance = held - amount;
        emit CommunityWithdrawn(to, amount);
        credit.safeTransfer(to, amount);
    }

    /// @notice In this market readings only show a seller's delivery (`settleDelivery`).
    function submitReading(uint32, SignedReading calldata)
        external pure override returns (uint256, uint256)
    {
        revert ReadingsOnlyForDelivery();
    }

    /// @notice The revealed bids or asks of `slot`, in reveal order.
    function book(uint32 slot, bool bids) external view returns (Order[] memory) {
        return bids ? _bids[slot] : _asks[slot];
    }

    /// @notice The commitments of `slot`, in commit order (a round may hold many: a duty pages
    /// through them with `commitmentCount` and `commitmentsPage`).
    function commitments(uint32 slot) external view returns (Commitment[] memory) {
        return _commitments[slot];
    }

    /// @notice How many commitments `slot` holds.
    function commitmentCount(uint32 slot) external view returns (uint256) {
        return _commitments[slot].length;
    }

    /// @notice At most `count` commitments of `slot` from index `start` on.
    function commitmentsPage(uint32 slot, uint256 start, uint256 count)
        external view returns (Commitment[] memory page)
    {
        Commitment[] storage all = _commitments[slot];
        uint256 end = Math.min(all.length, start + Math.min(count, all.length));
        page = new Commitment[](end > start ? end - start : 0);
        for (uint256 i = 0; i < page.length; ++i) page[i] = all[start + i];
    }

    /// @notice How many bids (or asks) `slot` has revealed.
    function orderCount(uint32 slot, bool bids) external view returns (uint256) {
        return (bids ? _bids[slot] : _asks[slot]).length;
    }

    /// @notice At most `count` revealed bids (or asks) of `slot` from index `start` on.
    function bookPage(uint32 slot, bool bids, uint256 start, uint256 count)
        external view returns (Order[] memory page)
    {
        Order[] storage side = bids ? _bids[slot] : _asks[slot];
        uint256 end = Math.min(side.length, start + Math.min(count, side.length));
        page = new Order[](end > start ? end - start : 0);
        for (uint256 i = 0; i < page.length; ++i) page[i] = side[start + i];
    }
}
