// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1363} from "@openzeppelin/contracts/interfaces/IERC1363.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MeterRegistry} from "./MeterRegistry.sol";

/// @title CommunityMarket: a neighbourhood's slots settled from its meters' signed readings.
/// @notice Households deposit EnergyCredit (µ€) into the market. For each 15-minute slot, one
/// transaction brings the signed readings of all the community's meters; each household's net
/// energy is its import minus its export since its previous reading. The submitter also states
/// the slot's demand D (sum of the buyers' nets) and surplus G (the sellers'): the contract
/// prices the slot from them, settles each household as it verifies its reading (one storage
/// read and write per household), and reverts at the end unless the readings add up to exactly
/// D and G: verifying the totals is cheaper than a second pass over the households.
/// The slot is priced by the mid-market rate, per-slot bill sharing or the supply-demand ratio,
/// with exactly the integer formulas and rounding rule of `daisee_lab.settlement.reference`:
/// buyers pay
/// ceil(net · buyNum / buyDen), sellers receive floor(|net| · sellNum / sellDen), the grid
/// account is paid floor(import · λb / 1000) for the community's net import and pays
/// ceil(export · λs / 1000) for its net export, and what is left (0 ≤ rounding ≤ households + 2
/// µ€) goes to the community's rounding account. A slot settles once, after it is over.
/// Imports are prepaid, so that no account's credits ever pay for another's energy: a buyer
/// whose balance does not cover its import at the grid price λb (the most any method charges)
/// is left out of the slot's pool (event `LeftOut`; its supplier bills that energy off chain),
/// and the grid account must hold what the community's net export costs it (else the slot
/// reverts with `InsufficientBalance` until someone deposits into it). Nobody owes, so the market
/// holds exactly balances + grid balance + rounding, and every account can withdraw its whole
/// balance at any time. A batch may leave meters out (silent, broken or removed): the operator
/// may submit it at once, anyone else once the slot is over by INCOMPLETE_BATCH_DELAY; a meter
/// left out brings all its energy since its last accepted reading with its next reading.
/// Withdrawals are pull payments, checks-effects-interactions.
contract CommunityMarket is MeterRegistry {
    using SafeERC20 for IERC1363;

    enum Method { MidMarketRate, BillSharing, SupplyDemandRatio }

    /// A settlement in progress: the slot's exact prices as fractions of µ€ per Wh (the 1/1000
    /// of µ€/kWh is in the denominators) and the running totals (Wh, µ€).
    struct Tally {
        uint256 buyNum;
        uint256 buyDen;
        uint256 sellNum;
        uint256 sellDen;
        uint256 demand;
        uint256 surplus;
        uint256 inflow;
        uint256 outflow;
        uint256 gridBuy;
    }

    uint256 public constant SLOT_SECONDS = 900;
    uint256 public constant MAX_PRICE = 10_000_000; // µ€/kWh, as in daisee_lab.settlement
    /// How long after a slot's end anyone (not only the operator) may settle it without every
    /// registered meter's reading, s.
    uint256 public constant INCOMPLETE_BATCH_DELAY = 3600;
    uint256 internal constant BALANCE_BITS = ((1 << 64) - 1) << 112; // a record's balance
    uint256 internal constant LEFT_OUT_MASK = (1 << 48) - 1; // a record's left-out Wh (bit 176)

    IERC1363 public immutable credit;
    address public immutable grid;
    Method public immutable method;

    // With MeterRegistry.meterCount, one storage word: a settlement reads and writes it once.
    // Every account holds at most 2^64 - 1 µ€.
    /// The last settled slot.
    uint32 public lastSettledSlot;
    /// The grid's import price λb and feed-in price λs, µ€/kWh.
    uint24 public gridBuy;
    uint24 public gridSell;
    /// The grid's account and the community's rounding account, µ€.
    uint64 public gridBalance;
    uint64 public roundingBalance;

    event GridPricesSet(uint256 gridBuy, uint256 gridSell);
    event Deposited(address indexed account, address indexed payer, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event LeftOut(address indexed account, uint32 indexed slot, uint256 importedWh,
                  uint256 balance);
    event SlotSettled(uint32 indexed slot, uint256 demandWh, uint256 surplusWh, int256 gridBill,
                      uint256 rounding);
    event RoundingWithdrawn(address indexed to, uint256 amount);

    error BadPrices(uint256 gridBuy, uint256 gridSell);
    error GridCannotBeHousehold(address grid);
    error ZeroAmount();
    error UnknownAccount(address account);
    error InsufficientBalance(address account, uint256 balance, uint256 amount);
    error SlotAlreadySettled(uint32 slot, uint32 lastSettledSlot);
    error SlotNotOver(uint32 slot, uint256 timestamp);
    error IncompleteBatch(uint256 readings, uint256 meters, uint256 opensAt);
    error WrongTotals(uint256 demandWh, uint256 surplusWh, uint256 actualDemandWh,
                      uint256 actualSurplusWh);
    error TotalsTooLarge(uint256 demandWh, uint256 surplusWh);
    error ReadingsOnlyInSettlement();
    error BalanceOverflow(address account); // 2^64 µ€ per account

    /// @param operator registers meters, sets grid prices, withdraws the rounding account.
    /// @param credit_ the EnergyCredit token. @param grid_ the grid supplier's account.
    constructor(address operator, IERC1363 credit_, address grid_, Method method_,
                uint256 gridBuy_, uint256 gridSell_) MeterRegistry(operator)
    {
        if (address(credit_) == address(0) || grid_ == address(0)) revert ZeroAddress();
        (credit, grid, method) = (credit_, grid_, method_);
        _setGridPrices(gridBuy_, gridSell_);
    }

    // --- operator -------------------------------------------------------------------------

    /// @notice Set the grid's import price λb and feed-in price λs (µ€/kWh) for later slots.
    function setGridPrices(uint256 gridBuy_, uint256 gridSell_) external onlyRole(OPERATOR_ROLE) {
        _setGridPrices(gridBuy_, gridSell_);
    }

    /// @notice Pay `amount` µ€ of the rounding account to `to` (community use).
    function withdrawRounding(address to, uint256 amount) external onlyRole(OPERATOR_ROLE) {
        uint256 held = roundingBalance;
        if (amount > held) revert InsufficientBalance(address(this), held, amount);
        roundingBalance = uint64(held - amount);
        emit RoundingWithdrawn(to, amount);
        credit.safeTransfer(to, amount);
    }

    // --- money in and out -----------------------------------------------------------------

    /// @notice Pay `amount` µ€ of the caller's credits into `account` (a household or the grid).
    /// Needs the caller's approval of the market.
    function deposit(address account, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        _store(account, _balance(account) + amount);
        emit Deposited(account, msg.sender, amount);
        credit.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Withdraw `amount` µ€ of the caller's balance. A contract receives it with the
    /// ERC-1363 `onTransferReceived` call; the balance is debited before that call. Every
    /// balance is backed by credits the market holds, so this never fails for want of them.
    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _balance(msg.sender);
        if (amount > balance) revert InsufficientBalance(msg.sender, balance, amount);
        _store(msg.sender, balance - amount);
        emit Withdrawn(msg.sender, amount);
        credit.transferAndCallRelaxed(msg.sender, amount, "");
    }

    /// @notice Balances (µ€) of households or the grid, in the order asked, and the import (Wh)
    /// each household had left out of the pools for want of a balance (0 for the grid).
    function accountsOf(address[] calldata accounts)
        external view returns (uint256[] memory balances, uint256[] memory leftOutWh)
    {
        (balances, leftOutWh) = (new uint256[](accounts.length), new uint256[](accounts.length));
        for (uint256 i = 0; i < accounts.length; ++i) {
            balances[i] = _balance(accounts[i]);
            if (accounts[i] != grid) {
                leftOutWh[i] = _records[_meterOfAccount(accounts[i])] >> 176 & LEFT_OUT_MASK;
            }
        }
    }

    // --- settlement -----------------------------------------------------------------------

    /// @notice In a market a reading moves money: it arrives only with its slot's batch.
    function submitReading(uint32, SignedReading calldata)
        external pure override returns (uint256, uint256)
    {
        revert ReadingsOnlyInSettlement();
    }

    /// @notice Settle `slot` from the signed readings of the registered meters (anyone may
    /// submit them: the signatures are the authority), given the slot's demand and surplus (Wh)
    /// that the readings must add up to, left-out buyers excluded. Slots settle in order, each
    /// once, after they are over. A batch without every meter comes from the operator, or from
    /// anyone INCOMPLETE_BATCH_DELAY after the slot's end. A meter appearing twice fails as a
    /// stale reading.
    function settle(uint32 slot, uint256 demandWh, uint256 surplusWh,
                    SignedReading[] calldata readings) external {
        uint32 last = lastSettledSlot;
        if (slot <= last) revert SlotAlreadySettled(slot, last);
        uint256 end = (uint256(slot) + 1) * SLOT_SECONDS;
        if (end > block.timestamp) revert SlotNotOver(slot, block.timestamp);
        if (readings.length < meterCount && block.timestamp < end + INCOMPLETE_BATCH_DELAY
                && !hasRole(OPERATOR_ROLE, msg.sender)) {
            revert IncompleteBatch(readings.length, meterCount, end + INCOMPLETE_BATCH_DELAY);
        }
        Tally memory t = _tally(demandWh, surplusWh);
        bytes32 domain = _domainSeparatorV4();
        for (uint256 i = 0; i < readings.length; ++i) {
            _settleHousehold(t, domain, slot, readings[i]);
        }
        if (t.demand != demandWh || t.surplus != surplusWh) {
            revert WrongTotals(demandWh, surplusWh, t.demand, t.surplus);
        }
        _settleGrid(slot, t);
    }

    /// @notice The exact prices of a slot with demand D and surplus G, as fractions of µ€ per
    /// Wh: a buyer pays ceil(net·buyNum/buyDen), a seller gets floor(|net|·sellNum/sellDen).
    function prices(uint256 demandWh, uint256 surplusWh)
        external view returns (uint256 buyNum, uint256 buyDen, uint256 sellNum, uint256 sellDen)
    {
        Tally memory t = _tally(demandWh, surplusWh);
        return (t.buyNum, t.buyDen, t.sellNum, t.sellDen);
    }

    // --- internals ------------------------------------------------------------------------

    function _setGridPrices(uint256 gridBuy_, uint256 gridSell_) internal {
        if (gridSell_ > gridBuy_ || gridBuy_ > MAX_PRICE) revert BadPrices(gridBuy_, gridSell_);
        (gridBuy, gridSell) = (uint24(gridBuy_), uint24(gridSell_));
        emit GridPricesSet(gridBuy_, gridSell_);
    }

    function _checkRegistration(Registration calldata reg) internal view override {
        if (reg.household == grid) revert GridCannotBeHousehold(grid);
        super._checkRegistration(reg);
    }

    /// A new tally with the prices of a slot of demand `d` and surplus `g`. Unchecked: with
    /// d, g < 2^72 Wh and prices < 2^24 µ€/kWh every product stays below 2^100 for the mid-market
    /// rate and bill sharing, and below 2^194 for the supply-demand ratio (see there); a
    /// household's energy (< 2^40 Wh) times a numerator then stays below 2^234.
    function _tally(uint256 d, uint256 g) internal view returns (Tally memory t) {
        if ((d | g) >> 72 != 0) revert TotalsTooLarge(d, g);
        (uint256 lb, uint256 ls) = (gridBuy, gridSell);
        t.gridBuy = lb;
        unchecked {
            if (method == Method.MidMarketRate) {
                // 2·Pmid = λb + λs stays an integer. G < D: buyers pay
                // (Pmid·G + λb·(D−G)) / D; G > D: sellers get (Pmid·D + λs·(G−D)) / G; the
                // other side Pmid.
                (t.buyNum, t.buyDen, t.sellNum, t.sellDen) = (lb + ls, 2000, lb + ls, 2000);
                if (g < d) (t.buyNum, t.buyDen) = ((lb + ls) * g + 2 * lb * (d - g), 2000 * d);
                if (g > d) (t.sellNum, t.sellDen) = ((lb + ls) * d + 2 * ls * (g - d), 2000 * g);
            } else if (method == Method.BillSharing) {
                // Per-slot bill sharing: buyers share the import cost, sellers the export revenue.
                (t.buyNum, t.buyDen, t.sellNum, t.sellDen) = (0, 1, 0, 1);
                if (d > g) (t.buyNum, t.buyDen) = ((d - g) * lb, 1000 * d);
                if (g > d) (t.sellNum, t.sellDen) = ((g - d) * ls, 1000 * g);
            } else {
                // Supply-demand ratio SDR = G/D. G >= D (or D = 0): both sides at λs. G < D, with
                // Q = (λb−λs)·G + λs·D: sellers get λb·λs·D/Q and buyers pay
                // λb·λs·G/Q + λb·(D−G)/D = (λb·λs·G·D + λb·(D−G)·Q) / (D·Q). Q = 0 only when
                // λs = 0 and λb·G = 0: sellers get 0, buyers λb. Bounds: Q < 2^97, the buyers'
                // numerator < 2^192 + 2^193 < 2^194, their denominator 1000·D·Q < 2^179.
                (t.buyNum, t.buyDen, t.sellNum, t.sellDen) = (ls, 1000, ls, 1000);
                if (g < d) {
                    uint256 q = (lb - ls) * g + ls * d;
                    if (q == 0) {
                        (t.buyNum, t.buyDen, t.sellNum, t.sellDen) = (lb, 1000, 0, 1);
                    } else {
                        (t.buyNum, t.buyDen) = (lb * ls * g * d + lb * (d - g) * q, 1000 * d * q);
                        (t.sellNum, t.sellDen) = (lb * ls * d, 1000 * q);
                    }
                }
            }
        }
    }

    /// Verify one reading, then the household pays (ceil) or is paid (floor) for its net energy;
    /// a buyer whose balance does not cover its import at λb is left out of the pool instead.
    /// Its record is written once, reading and money together.
    function _settleHousehold(Tally memory t, bytes32 domain, uint32 slot,
                              SignedReading calldata reading) internal {
        (address meter, uint256 record, uint256 imported, uint256 exported) =
            _verify(domain, slot, reading);
        uint256 balance = uint64(record >> 112);
        // Unchecked: energies are below 2^40 Wh per meter, so sums and products stay far below
        // 2^256 with prices from true totals (with wrong totals the settlement reverts anyway),
        // each branch only subtracts the smaller from the larger, and a buyer pays at most its
        // balance (its price is at most λb).
        unchecked {
            if (imported > exported) {
                uint256 energy = imported - exported;
                if (energy * t.gridBuy > balance * 1000) { // ceil(energy·λb/1000) > balance
                    uint256 leftOut = Math.min((record >> 176 & LEFT_OUT_MASK) + energy,
                                               LEFT_OUT_MASK); // a counter that saturates
                    record = (record & ~(LEFT_OUT_MASK << 176)) | leftOut << 176;
                    emit LeftOut(householdOf[meter], slot, energy, balance);
                } else {
                    uint256 amount = (energy * t.buyNum + t.buyDen - 1) / t.buyDen;
                    (t.demand, t.inflow) = (t.demand + energy, t.inflow + amount);
                    balance -= amount;
                }
            } else if (exported > imported) {
                uint256 energy = exported - imported;
                uint256 amount = energy * t.sellNum / t.sellDen;
                (t.surplus, t.outflow) = (t.surplus + energy, t.outflow + amount);
                balance += amount;
                if (balance >> 64 != 0) revert BalanceOverflow(meter);
            }
        }
        _records[meter] = (record & ~BALANCE_BITS) | balance << 112;
    }

    /// The grid is paid floor(import·λb/1000) or pays ceil(export·λs/1000); the rest of the
    /// slot's money goes to the rounding account. One storage write. Unchecked: the totals are
    /// below 2^72 (see `_tally`) and the rounding is never negative (a wrapped value would fail
    /// the 48-bit range check).
    function _settleGrid(uint32 slot, Tally memory t) internal {
        uint256 balance = gridBalance;
        (uint256 fromGrid, uint256 toGrid, uint256 rounding) = (0, 0, 0);
        unchecked {
            if (t.demand > t.surplus) {
                toGrid = (t.demand - t.surplus) * t.gridBuy / 1000;
                balance += toGrid;
            } else if (t.surplus > t.demand) {
                fromGrid = ((t.surplus - t.demand) * gridSell + 999) / 1000;
                if (fromGrid > balance) revert InsufficientBalance(grid, balance, fromGrid);
                balance -= fromGrid;
            }
            rounding = t.inflow + fromGrid - t.outflow - toGrid;
        }
        uint256 held = roundingBalance + rounding;
        if (balance >> 64 != 0) revert BalanceOverflow(grid);
        if (held >> 64 != 0) revert BalanceOverflow(address(this));
        (lastSettledSlot, gridBalance, roundingBalance) = (slot, uint64(balance), uint64(held));
        emit SlotSettled(slot, t.demand, t.surplus, int256(toGrid) - int256(fromGrid), rounding);
    }

    /// The balance of a household account or of the grid.
    function _balance(address account) internal view returns (uint256) {
        if (account == grid) return gridBalance;
        return uint64(_records[_meterOfAccount(account)] >> 112);
    }

    /// Store an account's balance (64 bits).
    function _store(address account, uint256 balance) internal {
        if (balance >> 64 != 0) revert BalanceOverflow(account);
        if (account == grid) {
            gridBalance = uint64(balance);
        } else {
            address meter = _meterOfAccount(account);
            _records[meter] = (_records[meter] & ~BALANCE_BITS) | balance << 112;
        }
    }

    function _meterOfAccount(address account) internal view returns (address meter) {
        meter = meterOf[account];
        if (meter == address(0)) revert UnknownAccount(account);
    }
}
