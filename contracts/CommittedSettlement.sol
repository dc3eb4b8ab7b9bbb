// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MeterRegistry} from "./MeterRegistry.sol";

/// @title CommittedSettlement: a community settled off chain, committed on chain, disputable.
/// @notice The operator settles each 15-minute slot off chain (mid-market rate, the rounding rule
/// of `daisee_lab.settlement`) and publishes only a Merkle root over every household's leaf
/// (meter, slot, importWh, exportWh, paymentUeur) and the slot's totals: in clear (demand D and
/// surplus G, Wh) only when the registry holds at least `minHouseholds` meters, else as a
/// commitment keccak256(abi.encode(D, G, salt)) whose salt the households get with their leaf.
/// Leaves are hashed twice, keccak256(bytes.concat(keccak256(abi.encode(...)))), and pairs are
/// hashed sorted, as OpenZeppelin's StandardMerkleTree does: an inner node cannot pass for a
/// leaf. Each household receives its leaf and proof off chain and checks them. If its leaf is
/// wrong, it disputes with its meter's two signed readings bounding the slot (the registry's
/// EIP-712 `Reading`, at the ends of slots s-1 and s): importWh of slot s is the import index
/// at the end of s minus the one at the end of s-1, likewise exportWh, and paymentUeur follows
/// from the net energy and the slot's totals. A leaf that differs pays the household `penalty`
/// µ€ out of the operator's bond. Only the meter's household may dispute, each leaf once, within
/// `disputeSeconds` of publication; a correct leaf cannot be disputed. The meters' readings never
/// come on chain unless a household disputes, and then only its own.
contract CommittedSettlement {
    using SafeERC20 for IERC20;

    uint256 public constant SLOT_SECONDS = 900;
    uint256 public constant MAX_PRICE = 10_000_000; // µ€/kWh, as in daisee_lab.units

    /// What a slot's publication stores: three storage words.
    struct Published {
        bytes32 root;
        bytes32 totals; // keccak256(abi.encode(demandWh, surplusWh, salt)); salt 0 when in clear
        uint64 publishedAt;
        uint32 households;
        uint24 gridBuy;
        uint24 gridSell;
    }

    /// A household's leaf: its meter, the slot, its energy (Wh) and payment (µ€, > 0 paid).
    struct Leaf {
        address meter;
        uint32 slot;
        uint40 importWh;
        uint40 exportWh;
        int256 paymentUeur;
    }

    /// A slot's totals as the household received them (salt 0 when they were published in clear).
    struct Totals {
        uint256 demandWh;
        uint256 surplusWh;
        bytes32 salt;
    }

    MeterRegistry public immutable registry;
    IERC20 public immutable credit;
    address public immutable operator;
    /// k: totals are published in clear only when the registry holds at least k meters.
    uint32 public immutable minHouseholds;
    /// The bond below which the operator cannot publish, and what a won dispute pays (µ€).
    uint256 public immutable minBond;
    uint256 public immutable penalty;
    uint256 public immutable disputeSeconds;

    uint256 public bond;
    uint256 public paidOut;
    uint32 public lastPublishedSlot;
    uint64 public lastPublishedAt;
    uint24 public gridBuy;
    uint24 public gridSell;
    mapping(uint32 slot => Published) public published;
    mapping(bytes32 leaf => bool) public disputed;

    event BondPosted(uint256 amount, uint256 bond);
    event BondWithdrawn(uint256 amount, uint256 bond);
    event GridPricesSet(uint256 gridBuy, uint256 gridSell);
    event SlotPublished(uint32 indexed slot, bytes32 root, uint32 households, uint256 demandWh,
                        uint256 surplusWh);
    event SlotSealed(uint32 indexed slot, bytes32 root, uint32 households, bytes32 totals);
    event Disputed(uint32 indexed slot, address indexed meter, address indexed household,
                   uint256 paid);

    error ZeroAddress();
    error NotOperator(address caller);
    error BadPrices(uint256 gridBuy, uint256 gridSell);
    error ZeroAmount();
    error BondTooLow(uint256 bond, uint256 minBond);
    error BondLocked(uint256 until);
    error InsufficientBond(uint256 bond, uint256 amount);
    error LengthMismatch();
    error TooFewHouseholds(uint256 households, uint256 minHouseholds);
    error SlotAlreadyPublished(uint32 slot, uint32 lastPublishedSlot);
    error SlotNotOver(uint32 slot, uint256 timestamp);
    error TotalsTooLarge(uint256 demandWh, uint256 surplusWh);
    error SlotNotPublished(uint32 slot);
    error DisputeClosed(uint32 slot, uint256 closedAt);
    error NotYourMeter(address meter, address household);
    error NotInTree(uint32 slot, bytes32 leaf);
    error AlreadyDisputed(bytes32 leaf);
    error WrongTotals(uint32 slot);
    error NotThisMeter(address meter, address readingMeter);
    error InvalidSignature(address meter, uint32 slot);
    error IndexWentBackwards(address meter);
    error LeafIsCorrect(bytes32 leaf);

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    /// @param registry_ the community's meters (a MeterRegistry: readings are signed for it).
    /// @param credit_ the token of bonds and penalties (EnergyCredit, 1 unit = 1 µ€).
    /// @param minHouseholds_ k, default 5 in daisee_lab.committed.
    constructor(MeterRegistry registry_, IERC20 credit_, address operator_, uint32 minHouseholds_,
                uint256 minBond_, uint256 penalty_, uint256 disputeSeconds_, uint256 gridBuy_,
                uint256 gridSell_)
    {
        if (address(registry_) == address(0) || address(credit_) == address(0)
            || operator_ == address(0)) revert ZeroAddress();
        (registry, credit, operator) = (registry_, credit_, operator_);
        (minHouseholds, minBond, penalty, disputeSeconds) =
            (minHouseholds_, minBond_, penalty_, disputeSeconds_);
        _setGridPrices(gridBuy_, gridSell_);
    }

    // --- the operator's bond and prices ---------------------------------------------------

    /// @notice The operator adds `amount` µ€ to its bond (needs its approval of this contract).
    function postBond(uint256 amount) external onlyOperator {
        if (amount == 0) revert ZeroAmount();
        bond += amount;
        emit BondPosted(amount, bond);
        credit.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice The operator takes `amount` µ€ of its bond back, once every publication's
    /// dispute window has closed.
    function withdrawBond(uint256 amount) external onlyOperator {
        uint256 until = uint256(lastPublishedAt) + disputeSeconds;
        if (lastPublishedAt != 0 && block.timestamp <= until) revert BondLocked(until);
        if (amount == 0) revert ZeroAmount();
        if (amount > bond) revert InsufficientBond(bond, amount);
        bond -= amount;
        emit BondWithdrawn(amount, bond);
        credit.safeTransfer(msg.sender, amount);
    }

    /// @notice Set the grid's import and feed-in prices (µ€/kWh) for slots published later.
    function setGridPrices(uint256 gridBuy_, uint256 gridSell_) external onlyOperator {
        _setGridPrices(gridBuy_, gridSell_);
    }

    // --- publication ----------------------------------------------------------------------

    /// @notice Publish consecutive slots from `firstSlot`: a root and the totals in clear for
    /// each. Only when the registry holds at least `minHouseholds` meters.
    function publishTotals(uint32 firstSlot, bytes32[] calldata roots,
                           uint256[] calldata demandWh, uint256[] calldata surplusWh)
        external onlyOperator
    {
        if (demandWh.length != roots.length || surplusWh.length != roots.length) {
            revert LengthMismatch();
        }
        uint32 households = _publishing(firstSlot, roots.length);
        if (households < minHouseholds) revert TooFewHouseholds(households, minHouseholds);
        for (uint256 i = 0; i < roots.length; ++i) {
            (uint256 d, uint256 g) = (demandWh[i], surplusWh[i]);
            if ((d | g) >> 72 != 0) revert TotalsTooLarge(d, g);
            uint32 slot = firstSlot + uint32(i);
            _store(slot, roots[i], keccak256(abi.encode(d, g, bytes32(0))), households);
            emit SlotPublished(slot, roots[i], households, d, g);
        }
    }

    /// @notice Publish consecutive slots from `firstSlot`: a root and a commitment to the
    /// totals for each (any community size; the only way below `minHouseholds`).
    function publishSealed(uint32 firstSlot, bytes32[] calldata roots,
                           bytes32[] calldata totals) external onlyOperator
    {
        if (totals.length != roots.length) revert LengthMismatch();
        uint32 households = _publishing(firstSlot, roots.length);
        for (uint256 i = 0; i < roots.length; ++i) {
            uint32 slot = firstSlot + uint32(i);
            _store(slot, roots[i], totals[i], households);
            emit SlotSealed(slot, roots[i], households, totals[i]);
        }
    }

    // --- disputes -------------------------------------------------------------------------

    /// @notice Dispute the caller's `leaf` of a published slot: `proof` shows it is in the
    /// slot's tree, `totals` are the slot's (as committed), `before` and `after_` are the leaf's
    /// meter's signed readings at the ends of slots leaf.slot - 1 and leaf.slot. If the leaf
    /// differs from what they give, the caller is paid `penalty` µ€ (or what is left of the
    /// bond) out of the operator's bond.
    function dispute(Leaf calldata leaf, bytes32[] calldata proof, Totals calldata totals,
                     MeterRegistry.SignedReading calldata before,
                     MeterRegistry.SignedReading calldata after_) external
    {
        bytes32 hashed = _disputable(leaf, proof, totals);
        if (_isRight(leaf, totals, before, after_)) revert LeafIsCorrect(hashed);
        disputed[hashed] = true;
        uint256 paid = penalty < bond ? penalty : bond;
        bond -= paid;
        paidOut += paid;
        emit Disputed(leaf.slot, leaf.meter, msg.sender, paid);
        if (paid > 0) credit.safeTransfer(msg.sender, paid);
    }

    /// @notice The hash of a leaf, as in the tree: keccak256 of keccak256 of its ABI encoding.
    function leafHash(Leaf calldata leaf) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(
            leaf.meter, leaf.slot, leaf.importWh, leaf.exportWh, leaf.paymentUeur))));
    }

    /// @notice A household's payment (µ€, > 0 paid, < 0 received) for its energy in a slot of
    /// demand D and surplus G at the mid-market rate, with the rounding rule of
    /// `daisee_lab.settlement.reference` (buyers ceil, sellers floor).
    function payment(uint256 importedWh, uint256 exportedWh, uint256 d, uint256 g,
                     uint256 lb, uint256 ls) public pure returns (int256)
    {
        if ((d | g) >> 72 != 0) revert TotalsTooLarge(d, g);
        // Pmid = (λb+λs)/2. G < D: buyers pay (Pmid·G + λb·(D−G))/D; G > D: sellers get
        // (Pmid·D + λs·(G−D))/G; the other side Pmid. In µ€ per Wh, the 1/1000 in the
        // denominators. With d, g < 2^72, prices < 2^24 and energies < 2^41 nothing overflows.
        (uint256 buyNum, uint256 buyDen, uint256 sellNum, uint256 sellDen) =
            (lb + ls, 2000, lb + ls, 2000);
        if (g < d) (buyNum, buyDen) = ((lb + ls) * g + 2 * lb * (d - g), 2000 * d);
        if (g > d) (sellNum, sellDen) = ((lb + ls) * d + 2 * ls * (g - d), 2000 * g);
        if (importedWh > exportedWh) {
            return int256(((importedWh - exportedWh) * buyNum + buyDen - 1) / buyDen);
        }
        return -int256((exportedWh - importedWh) * sellNum / sellDen);
    }

    // --- internals ------------------------------------------------------------------------

    function _setGridPrices(uint256 gridBuy_, uint256 gridSell_) internal {
        if (gridSell_ > gridBuy_ || gridBuy_ > MAX_PRICE) revert BadPrices(gridBuy_, gridSell_);
        (gridBuy, gridSell) = (uint24(gridBuy_), uint24(gridSell_));
        emit GridPricesSet(gridBuy_, gridSell_);
    }

    /// Check that `count` slots from `firstSlot` may be published now; return the number of
    /// households (the registry's meters) each covers.
    function _publishing(uint32 firstSlot, uint256 count) internal returns (uint32) {
        if (bond < minBond) revert BondTooLow(bond, minBond);
        if (count == 0) revert ZeroAmount();
        uint32 last = lastPublishedSlot;
        if (firstSlot <= last) revert SlotAlreadyPublished(firstSlot, last);
        uint32 final_ = uint32(firstSlot + count - 1);
        if ((uint256(final_) + 1) * SLOT_SECONDS > block.timestamp) {
            revert SlotNotOver(final_, block.timestamp);
        }
        (lastPublishedSlot, lastPublishedAt) = (final_, uint64(block.timestamp));
        return registry.meterCount();
    }

    function _store(uint32 slot, bytes32 root, bytes32 totals, uint32 households) internal {
        published[slot] = Published(root, totals, uint64(block.timestamp), households, gridBuy,
                                    gridSell);
    }

    /// Check that the caller may dispute `leaf` with `totals`: a published slot whose window is
    /// open, the caller's own meter, a leaf of the slot's tree not yet disputed, the slot's
    /// committed totals. Return the leaf's hash.
    function _disputable(Leaf calldata leaf, bytes32[] calldata proof, Totals calldata totals)
        internal view returns (bytes32 hashed)
    {
        Published storage slot = published[leaf.slot];
        bytes32 root = slot.root;
        if (root == bytes32(0)) revert SlotNotPublished(leaf.slot);
        uint256 closesAt = uint256(slot.publishedAt) + disputeSeconds;
        if (block.timestamp > closesAt) revert DisputeClosed(leaf.slot, closesAt);
        address household = registry.householdOf(leaf.meter);
        if (household != msg.sender) revert NotYourMeter(leaf.meter, msg.sender);
        hashed = leafHash(leaf);
        if (!MerkleProof.verifyCalldata(proof, root, hashed)) revert NotInTree(leaf.slot, hashed);
        if (disputed[hashed]) revert AlreadyDisputed(hashed);
        if (keccak256(abi.encode(totals.demandWh, totals.surplusWh, totals.salt)) != slot.totals) {
            revert WrongTotals(leaf.slot);
        }
    }

    /// Whether `leaf` says what the meter's signed readings and the slot's totals give.
    function _isRight(Leaf calldata leaf, Totals calldata totals,
                      MeterRegistry.SignedReading calldata before,
                      MeterRegistry.SignedReading calldata after_) internal view returns (bool)
    {
        Published storage slot = published[leaf.slot];
        (uint256 imported, uint256 exported) = _energy(leaf.meter, leaf.slot, before, after_);
        return imported == leaf.importWh && exported == leaf.exportWh
            && payment(imported, exported, totals.demandWh, totals.surplusWh, slot.gridBuy,
                       slot.gridSell) == leaf.paymentUeur;
    }

    /// The energy a meter's signed readings at the ends of slots `slot - 1` and `slot` give.
    function _energy(address meter, uint32 slot, MeterRegistry.SignedReading calldata before,
                     MeterRegistry.SignedReading calldata after_)
        internal view returns (uint256 importedWh, uint256 exportedWh)
    {
        (uint40 importBefore, uint40 exportBefore) = _signed(meter, slot - 1, before);
        (uint40 importAfter, uint40 exportAfter) = _signed(meter, slot, after_);
        if (importAfter < importBefore || exportAfter < exportBefore) {
            revert IndexWentBackwards(meter);
        }
        return (importAfter - importBefore, exportAfter - exportBefore);
    }

    /// The indexes of `reading`, if `meter` signed it for `slot` (the registry's digest).
    function _signed(address meter, uint32 slot, MeterRegistry.SignedReading calldata reading)
        internal view returns (uint40 importWh, uint40 exportWh)
    {
        address signer;
        (signer, importWh, exportWh) = registry.unpack(reading.word);
        if (signer != meter) revert NotThisMeter(meter, signer);
        bytes32 digest = registry.readingDigest(meter, slot, importWh, exportWh);
        (address recovered,,) = ECDSA.tryRecover(digest, reading.r, reading.vs);
        if (recovered != meter) revert InvalidSignature(meter, slot);
    }
}
