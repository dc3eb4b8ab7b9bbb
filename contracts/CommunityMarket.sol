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
/// Money is never lost: a payment larger than a balance leaves the rest as debt (event
/// `Shortfall`), repaid first by the next money that account receives, so market holdings +
/// debts = balances + grid balance + rounding, always. A balance earned from a debtor is backed
/// by that debt until it is repaid: a withdrawal larger than the credits the market holds is
/// refused (`MarketShortOfCredits`) and can be made later.
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
    }

    uint256 public constant SLOT_SECONDS = 900;
    uint256 public constant MAX_PRICE = 10_000_000; // µ€/kWh, as in daisee_lab.settlement
    uint256 internal constant MONEY_BITS = ((1 << 128) - 1) << 112; // a record's balance and debt

    IERC1363 public immutable credit;
    address public immutable grid;
    Method public immutable method;

    // With MeterRegistry.meterCount, one storage word: a settlement reads and writes it once.
    // Money here is limited to 2^48 - 1 µ€ (281 million €) per account.
    /// The last settled slot.
    uint32 public lastSettledSlot;
    /// The grid's import price λb and feed-in price λs, µ€/kWh.
    uint24 public gridBuy;
    uint24 public gridSell;
    /// The grid's account and the community's rounding account, µ€.
    uint48 public gridBalance;
    uint48 public gridDebt;
    uint48 public roundingBalance;

    event GridPricesSet(uint256 gridBuy, uint256 gridSell);
    event Deposited(address indexed account, address indexed payer, uint256 amount,
                    uint256 debtRepaid);
    event Withdrawn(address indexed account, uint256 amount);
    event Shortfall(address indexed account, uint32 indexed slot, uint256 amount);
    event SlotSettled(uint32 indexed slot, uint256 demandWh, uint256 surplusWh, int256 gridBill,
                      uint256 rounding);
    event RoundingWithdrawn(address indexed to, uint256 amount);

    error BadPrices(uint256 gridBuy, uint256 gridSell);
    error GridCannotBeHousehold(address grid);
    error ZeroAmount();
    error UnknownAccount(address account);
    error InsufficientBalance(address account, uint256 balance, uint256 amount);
    error MarketShortOfCredits(uint256 held, uint256 amount);
    error SlotAlreadySettled(uint32 slot, uint32 lastSettledSlot);
    error SlotNotOver(uint32 slot, uint256 timestamp);
    error IncompleteBatch(uint256 readings, uint256 meters);
    error WrongTotals(uint256 demandWh, uint256 surplusWh, uint256 actualDemandWh,
                      uint256 actualSurplusWh);
    error TotalsTooLarge(uint256 demandWh, uint256 surplusWh);
    error ReadingsOnlyInSettlement();
    error BalanceOverflow(address account); // 2^64 µ€ for a household, 2^48 for the grid

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
        roundingBalance = uint48(held - amount);
        emit RoundingWithdrawn(to, amount);
        credit.safeTransfer(to, amount);
    }

    // --- money in and out -----------------------------------------------------------------

    /// @notice Pay `amount` µ€ of the caller's credits into `account` (a household or the grid);
    /// any debt of the account is repaid first. Needs the caller's approval of the market.
    function deposit(address account, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        (uint256 balance, uint256 debt) = _account(account);
        (uint256 newBalance, uint256 newDebt) = _credit(balance, debt, amount);
        _store(account, newBalance, newDebt);
        emit Deposited(account, msg.sender, amount, debt - newDebt);
        credit.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Withdraw `amount` µ€ of the caller's balance. A contract receives it with the
    /// ERC-1363 `onTransferReceived` call; the balance is debited before that call.
    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        (uint256 balance, uint256 debt) = _account(msg.sender);
        if (amount > balance) revert InsufficientBalance(msg.sender, balance, amount);
        uint256 held = credit.balanceOf(address(this));
        if (amount > held) revert MarketShortOfCredits(held, amount);
        _store(msg.sender, balance - amount, debt);
        emit Withdrawn(msg.sender, amount);
        credit.transferAndCallRelaxed(msg.sender, amount, "");
    }

    /// @notice Balances and debts (µ€) of households or the grid, in the order asked.
    function accountsOf(address[] calldata accounts)
        external view returns (uint256[] memory balances, uint256[] memory debts)
    {
        (balances, debts) = (new uint256[](accounts.length), new uint256[](accounts.length));
        for (uint256 i = 0; i < accounts.length; ++i) {
            (balances[i], debts[i]) = _account(accounts[i]);
        }
    }

    // --- settlement -----------------------------------------------------------------------

    /// @notice In a market a reading moves money: it arrives only with its slot's batch.
    function submitReading(uint32, SignedReading calldata)
        external pure override returns (uint256, uint256)
    {
        revert ReadingsOnlyInSettlement();
    }

    /// @notice Settle `slot` from the signed readings of every registered meter (anyone may
    /// submit them: the signatures are the authority), given the slot's demand and surplus (Wh)
    /// that the readings must add up to. Slots settle in order, each once, after they are over.
    /// A meter appearing twice fails as a stale reading.
    function settle(uint32 slot, uint256 demandWh, uint256 surplusWh,
                    SignedReading[] calldata readings) external {
        uint32 last = lastSettledSlot;
        if (slot <= last) revert SlotAlreadySettled(slot, last);
        if ((uint256(slot) + 1) * SLOT_SECONDS > block.timestamp) {
            revert SlotNotOver(slot, block.timestamp);
        }
        if (readings.length != meterCount) revert IncompleteBatch(readings.length, meterCount);
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
    /// its record is written once, reading and money together.
    function _settleHousehold(Tally memory t, bytes32 domain, uint32 slot,
                              SignedReading calldata reading) internal {
        (address meter, uint256 record, uint256 imported, uint256 exported) =
            _verify(domain, slot, reading);
        uint256 balance = uint64(record >> 112);
        uint256 debt = uint64(record >> 176);
        // Unchecked: energies are below 2^40 Wh per meter, so sums and products stay far below
        // 2^256 with prices from true totals (with wrong totals the settlement reverts anyway),
        // and each branch only subtracts the smaller from the larger.
        unchecked {
            if (imported > exported) {
                uint256 energy = imported - exported;
                uint256 amount = (energy * t.buyNum + t.buyDen - 1) / t.buyDen;
                (t.demand, t.inflow) = (t.demand + energy, t.inflow + amount);
                if (amount <= balance) {
                    balance -= amount;
                } else {
                    uint256 short = amount - balance;
                    (balance, debt) = (0, debt + short);
                    emit Shortfall(householdOf[meter], slot, short);
                }
            } else if (exported > imported) {
                uint256 energy = exported - imported;
                uint256 amount = energy * t.sellNum / t.sellDen;
                (t.surplus, t.outflow) = (t.surplus + energy, t.outflow + amount);
                if (amount <= debt) {
                    debt -= amount;
                } else {
                    (balance, debt) = (balance + amount - debt, 0);
                }
            }
        }
        if ((balance | debt) >> 64 != 0) revert BalanceOverflow(meter);
        _records[meter] = (record & ~MONEY_BITS) | balance << 112 | debt << 176;
    }

    /// The grid is paid floor(import·λb/1000) or pays ceil(export·λs/1000); the rest of the
    /// slot's money goes to the rounding account. One storage write. Unchecked: the totals are
    /// below 2^72 (see `_tally`) and the rounding is never negative (a wrapped value would fail
    /// the 48-bit range check).
    function _settleGrid(uint32 slot, Tally memory t) internal {
        (uint256 balance, uint256 debt) = (gridBalance, gridDebt);
        (uint256 fromGrid, uint256 toGrid, uint256 rounding) = (0, 0, 0);
        unchecked {
            if (t.demand > t.surplus) {
                toGrid = (t.demand - t.surplus) * gridBuy / 1000;
                (balance, debt) = _credit(balance, debt, toGrid);
            } else if (t.surplus > t.demand) {
                fromGrid = ((t.surplus - t.demand) * gridSell + 999) / 1000;
                uint256 short;
                (balance, debt, short) = _debit(balance, debt, fromGrid);
                if (short > 0) emit Shortfall(grid, slot, short);
            }
            rounding = t.inflow + fromGrid - t.outflow - toGrid;
        }
        uint256 held = roundingBalance + rounding;
        if ((balance | debt) >> 48 != 0) revert BalanceOverflow(grid);
        if (held >> 48 != 0) revert BalanceOverflow(address(this));
        (lastSettledSlot, gridBalance, gridDebt, roundingBalance) =
            (slot, uint48(balance), uint48(debt), uint48(held));
        emit SlotSettled(slot, t.demand, t.surplus, int256(toGrid) - int256(fromGrid), rounding);
    }

    /// Take `amount` from a balance; what it cannot cover becomes debt (the shortfall).
    function _debit(uint256 balance, uint256 debt, uint256 amount)
        internal pure returns (uint256, uint256, uint256 short)
    {
        if (amount <= balance) return (balance - amount, debt, 0);
        short = amount - balance;
        return (0, debt + short, short);
    }

    /// Add `amount` to an account, repaying its debt first.
    function _credit(uint256 balance, uint256 debt, uint256 amount)
        internal pure returns (uint256, uint256)
    {
        uint256 repaid = Math.min(debt, amount);
        return (balance + amount - repaid, debt - repaid);
    }

    /// The balance and debt of a household account or of the grid.
    function _account(address account) internal view returns (uint256 balance, uint256 debt) {
        if (account == grid) return (gridBalance, gridDebt);
        uint256 record = _records[_meterOfAccount(account)];
        return (uint64(record >> 112), uint64(record >> 176));
    }

    /// Store an account's balance and debt: 64 bits each in a household's record, 48 for the grid.
    function _store(address account, uint256 balance, uint256 debt) internal {
        if ((balance | debt) >> (account == grid ? 48 : 64) != 0) revert BalanceOverflow(account);
        if (account == grid) {
            (gridBalance, gridDebt) = (uint48(balance), uint48(debt));
        } else {
            address meter = _meterOfAccount(account);
            _records[meter] = (_records[meter] & ~MONEY_BITS) | balance << 112 | debt << 176;
        }
    }

    function _meterOfAccount(address account) internal view returns (address meter) {
        meter = meterOf[account];
        if (meter == address(0)) revert UnknownAccount(account);
    }
}
