// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title MeterRegistry: the community's meters and the readings they sign.
/// @notice The operator registers each meter: the address of its signing key (the key lives in
/// the meter or its gateway), its public id (Linky ADSC/ADCO, DSMR equipment id) and the
/// household account it belongs to. A reading is EIP-712 typed data signed by the meter:
/// `Reading(address meter,uint32 slot,uint40 importWh,uint40 exportWh)`, the cumulative import
/// and export indexes (Wh) at the end of 15-minute slot `slot` (unix seconds / 900). A reading is
/// accepted only if the meter signed it, its slot is after the meter's last one and not after the
/// current slot (block time / 900: a reading is for a slot that has begun, which tolerates a meter
/// clock up to one slot ahead of the chain's), neither index went down, and neither energy is more
/// than the meter's registered power could deliver since its last reading (power x 15 min per
/// slot); the energy is the difference with the previous indexes. A meter's first reading only
/// anchors its indexes (energy 0). Nobody else can speak for a meter, and a reading cannot be
/// replayed: its slot would not be after the last one, and the signature binds the slot, the
/// chain and this contract. The operator can remove a meter (its household leaves; its account
/// stays) and replace one, anchoring the new meter at its indexes when installed.
contract MeterRegistry is AccessControl, EIP712 {
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant READING_TYPEHASH =
        keccak256("Reading(address meter,uint32 slot,uint40 importWh,uint40 exportWh)");

    /// A reading as it travels in calldata, three words: `word` packs the meter's address and
    /// its import and export indexes (Wh) as meter << 80 | importWh << 40 | exportWh (see
    /// `unpack`); `r` and `vs` are the meter's signature in the compact EIP-2098 form (vs = s
    /// with v's parity in the top bit). The slot comes with the call.
    struct SignedReading {
        uint256 word;
        bytes32 r;
        bytes32 vs;
    }

    /// What the operator registers.
    struct Registration {
        address meter;
        bytes32 publicId;
        address household;
    }

    // A meter's record is one storage word holding everything a settlement touches for its
    // household, so that settling a slot reads and writes one storage slot per household:
    //   bits   0..31   slot of the last accepted reading (0: none yet)
    //   bits  32..71   import index at that slot, Wh (up to 2^40 - 1 = 1.1 TWh; a meter's
    //   bits  72..111  export index, Wh               register holds at most 1e9 Wh)
    //   bits 112..175  the household's balance in a market built on the registry, µ€
    //   bits 176..223  the household's import left out of that market's pools, Wh
    //   bits 224..254  the meter's power, VA (it caps the energy of a reading)
    //   bit  255       registered
    uint256 internal constant READING_BITS = (1 << 112) - 1;
    uint256 internal constant INDEX_MASK = (1 << 40) - 1;
    uint256 internal constant INDEXES = READING_BITS ^ 0xffffffff; // bits 32..111
    uint256 internal constant REGISTERED = 1 << 255;
    uint256 internal constant POWER_SHIFT = 224;
    /// A meter's power when registered without one, VA: the largest subscribed power of a French
    /// residential (tarif bleu, <= 36 kVA) connection, as daisee_lab.units.DEFAULT_POWER_VA.
    uint256 public constant DEFAULT_POWER_VA = 36_000;
    /// The largest power a meter may be registered with, VA (31 bits of its record).
    uint256 public constant MAX_POWER_VA = (1 << 31) - 1;
    uint256 internal constant READING_SLOT_SECONDS = 900; // a reading's slot: unix seconds / 900
    mapping(address meter => uint256) internal _records;

    /// The household account a meter belongs to.
    mapping(address meter => address) public householdOf;
    /// The meter of a household account.
    mapping(address household => address) public meterOf;
    /// The meter registered under a public id.
    mapping(bytes32 publicId => address) public meterByPublicId;
    /// How many meters are registered (removed ones not counted).
    uint32 public meterCount;

    event MeterRegistered(address indexed meter, bytes32 publicId, address indexed household,
                          uint256 powerVa);
    event MeterRemoved(address indexed meter, address indexed household);
    event MeterReplaced(address indexed oldMeter, address indexed newMeter, bytes32 publicId,
                        address indexed household, uint40 importWh, uint40 exportWh);
    event ReadingAccepted(address indexed meter, uint32 indexed slot, uint40 importWh,
                          uint40 exportWh, uint256 importedWh, uint256 exportedWh);

    error ZeroAddress();
    error EmptyPublicId(address meter);
    error MeterAlreadyRegistered(address meter);
    error PublicIdTaken(bytes32 publicId, address meter);
    error HouseholdHasMeter(address household, address meter);
    error UnknownMeter(address meter);
    error InvalidSignature(address meter);
    error StaleReading(address meter, uint32 slot, uint32 lastSlot);
    error FutureReading(address meter, uint32 slot, uint256 currentSlot);
    error ImplausibleEnergy(address meter, uint256 importedWh, uint256 exportedWh,
                            uint256 maxWh);
    error BadPower(address meter, uint256 powerVa);
    error PowersMismatch(uint256 registrations, uint256 powers);
    error IndexWentBackwards(address meter, uint40 lastImportWh, uint40 importWh,
                             uint40 lastExportWh, uint40 exportWh);

    /// @param operator registers meters (and, in a market, sets the grid prices).
    constructor(address operator) EIP712("DAISEE MeterRegistry", "1") {
        if (operator == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, operator);
        _grantRole(OPERATOR_ROLE, operator);
    }

    /// @notice Register meters, each with its public id and household (one meter per household),
    /// at the default power (DEFAULT_POWER_VA).
    function register(Registration[] calldata registrations) external onlyRole(OPERATOR_ROLE) {
        for (uint256 i = 0; i < registrations.length; ++i) {
            _register(registrations[i], DEFAULT_POWER_VA);
        }
    }

    /// @notice Register meters with their power (VA: the subscribed power of the connection),
    /// one power per registration.
    function registerWithPower(Registration[] calldata registrations, uint256[] calldata powersVa)
        external onlyRole(OPERATOR_ROLE)
    {
        if (powersVa.length != registrations.length) {
            revert PowersMismatch(registrations.length, powersVa.length);
        }
        for (uint256 i = 0; i < registrations.length; ++i) {
            _register(registrations[i], powersVa[i]);
        }
    }

    /// @notice Remove a meter: its readings are refused from now on and it no longer counts in
    /// `meterCount`. Its household's account (in a market: its balance) stays, and
    /// `replaceMeter` can give the household a new meter later.
    function removeMeter(address meter) external onlyRole(OPERATOR_ROLE) {
        uint256 record = _records[meter];
        if (record & REGISTERED == 0) revert UnknownMeter(meter);
        _records[meter] = record & ~REGISTERED;
        meterCount -= 1;
        emit MeterRemoved(meter, householdOf[meter]);
    }

    /// @notice Replace a household's meter (registered or removed) by `newMeter`, whose indexes
    /// at installation are `importWh` and `exportWh` (near zero for a new meter): its next reading
    /// brings the energy since then. The household's account and the meter's power move to the
    /// new meter; the old one's readings are refused from now on.
    function replaceMeter(address oldMeter, address newMeter, bytes32 publicId, uint40 importWh,
                          uint40 exportWh) external onlyRole(OPERATOR_ROLE)
    {
        address household = householdOf[oldMeter];
        if (household == address(0) || meterOf[household] != oldMeter) {
            revert UnknownMeter(oldMeter);
        }
        _checkMeter(newMeter, publicId);
        uint256 old = _records[oldMeter];
        if (old & REGISTERED == 0) meterCount += 1;
        // The new meter keeps the old one's last slot: a reading must come after it.
        _records[newMeter] = (old & ~INDEXES) | REGISTERED
            | uint256(importWh) << 32 | uint256(exportWh) << 72;
        _records[oldMeter] = 0;
        householdOf[newMeter] = household;
        meterOf[household] = newMeter;
        meterByPublicId[publicId] = newMeter;
        emit MeterReplaced(oldMeter, newMeter, publicId, household, importWh, exportWh);
    }

    /// @notice Accept one signed reading (anyone may relay it); return the energy since the
    /// meter's previous reading.
    function submitReading(uint32 slot, SignedReading calldata reading)
        external virtual returns (uint256 importedWh, uint256 exportedWh)
    {
        (address meter, uint256 record, uint256 imported, uint256 exported) =
            _verify(_domainSeparatorV4(), slot, reading);
        _checkNotFuture(meter, slot);
        _records[meter] = record;
        (, uint40 importWh, uint40 exportWh) = unpack(reading.word);
        emit ReadingAccepted(meter, slot, importWh, exportWh, imported, exported);
        return (imported, exported);
    }

    /// @notice A meter's power (VA), which caps the energy of its readings.
    function powerOf(address meter) external view returns (uint256) {
        return _records[meter] >> POWER_SHIFT & MAX_POWER_VA;
    }

    /// @notice A meter's last accepted reading (slot 0: none yet) and whether it is registered.
    function lastReading(address meter)
        external view returns (bool registered, uint32 slot, uint40 importWh, uint40 exportWh)
    {
        uint256 record = _records[meter];
        return (record & REGISTERED != 0, uint32(record), uint40(record >> 32),
                uint40(record >> 72));
    }

    /// @notice The EIP-712 digest a meter signs for a reading.
    function readingDigest(address meter, uint32 slot, uint40 importWh, uint40 exportWh)
        external view returns (bytes32)
    {
        return MessageHashUtils.toTypedDataHash(
            _domainSeparatorV4(), _readingHash(meter, slot, importWh, exportWh));
    }

    /// @notice Split a reading's first calldata word into meter, import and export index.
    function unpack(uint256 word)
        public pure returns (address meter, uint40 importWh, uint40 exportWh)
    {
        return (address(uint160(word >> 80)), uint40(word >> 40), uint40(word));
    }

    /// Record one registration at `powerVa`.
    function _register(Registration calldata reg, uint256 powerVa) internal {
        _checkRegistration(reg);
        if (powerVa == 0 || powerVa > MAX_POWER_VA) revert BadPower(reg.meter, powerVa);
        _records[reg.meter] = REGISTERED | powerVa << POWER_SHIFT;
        householdOf[reg.meter] = reg.household;
        meterOf[reg.household] = reg.meter;
        meterByPublicId[reg.publicId] = reg.meter;
        meterCount += 1;
        emit MeterRegistered(reg.meter, reg.publicId, reg.household, powerVa);
    }

    /// Reject a registration that would make a meter, public id or household ambiguous.
    function _checkRegistration(Registration calldata reg) internal view virtual {
        if (reg.household == address(0)) revert ZeroAddress();
        _checkMeter(reg.meter, reg.publicId);
        address owned = meterOf[reg.household];
        if (owned != address(0)) revert HouseholdHasMeter(reg.household, owned);
    }

    /// Reject a new meter whose address is zero or was ever used, or whose public id is empty or
    /// taken.
    function _checkMeter(address meter, bytes32 publicId) internal view {
        if (meter == address(0)) revert ZeroAddress();
        if (publicId == bytes32(0)) revert EmptyPublicId(meter);
        if (householdOf[meter] != address(0)) revert MeterAlreadyRegistered(meter);
        address holder = meterByPublicId[publicId];
        if (holder != address(0)) revert PublicIdTaken(publicId, holder);
    }

    /// Check `reading` for `slot` (`domain`: this registry's EIP-712 domain separator). Return
    /// its meter, the meter's record updated with the reading (for the caller to store), and the
    /// energy since the meter's last reading.
    function _verify(bytes32 domain, uint32 slot, SignedReading calldata reading)
        internal view returns (address meter, uint256 record, uint256 importedWh,
                               uint256 exportedWh)
    {
        uint256 word = reading.word;
        meter = address(uint160(word >> 80));
        record = _records[meter];
        if (record & REGISTERED == 0) revert UnknownMeter(meter);
        (uint256 importWh, uint256 exportWh) = ((word >> 40) & INDEX_MASK, word & INDEX_MASK);
        {
            bytes32 digest = MessageHashUtils.toTypedDataHash(
                domain, _readingHash(meter, slot, importWh, exportWh));
            (address signer,,) = ECDSA.tryRecover(digest, reading.r, reading.vs);
            if (signer != meter) revert InvalidSignature(meter);
        }
        uint256 lastSlot = uint32(record);
        if (slot <= lastSlot) revert StaleReading(meter, slot, uint32(lastSlot));
        {
            uint256 lastImport = (record >> 32) & INDEX_MASK;
            uint256 lastExport = (record >> 72) & INDEX_MASK;
            if (importWh < lastImport || exportWh < lastExport) {
                revert IndexWentBackwards(meter, uint40(lastImport), uint40(importWh),
                                          uint40(lastExport), uint40(exportWh));
            }
            if (lastSlot == 0) return (meter, _withReading(record, slot, importWh, exportWh), 0, 0);
            // Unchecked: indexes are below 2^40 (a first reading, above, brings no energy).
            unchecked { (importedWh, exportedWh) = (importWh - lastImport, exportWh - lastExport); }
        }
        // Neither energy may be more than the meter's power could pass since its last reading:
        // power (VA) x gap x 900 s / 3600 s/h = power x gap / 4 Wh. Unchecked: the power is
        // below 2^31, the gap below 2^32.
        unchecked {
            uint256 most = (record >> POWER_SHIFT & MAX_POWER_VA) * (slot - lastSlot) / 4;
            if (importedWh > most || exportedWh > most) {
                revert ImplausibleEnergy(meter, importedWh, exportedWh, most);
            }
        }
        record = _withReading(record, slot, importWh, exportWh);
    }

    /// `record` with its last reading replaced.
    function _withReading(uint256 record, uint256 slot, uint256 importWh, uint256 exportWh)
        internal pure returns (uint256)
    {
        return (record & ~READING_BITS) | slot | importWh << 32 | exportWh << 72;
    }

    /// Refuse a reading for a slot after the current one (block time / 900 s). The slot in
    /// progress is accepted: a meter's clock may run up to one slot ahead of the chain's. A market
    /// that settles only slots that are over (CommunityMarket, AuctionMarket's deliveries)
    /// refuses future readings by that rule already, without this check.
    function _checkNotFuture(address meter, uint256 slot) internal view {
        if (slot > block.timestamp / READING_SLOT_SECONDS) {
            revert FutureReading(meter, uint32(slot), block.timestamp / READING_SLOT_SECONDS);
        }
    }

    /// The EIP-712 struct hash of a reading, computed in free memory without allocating it (a
    /// settlement hashes one reading per household).
    function _readingHash(address meter, uint256 slot, uint256 importWh, uint256 exportWh)
        internal pure returns (bytes32 hash)
    {
        bytes32 typehash = READING_TYPEHASH;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typehash)
            mstore(add(p, 0x20), and(meter, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0x40), slot)
            mstore(add(p, 0x60), importWh)
            mstore(add(p, 0x80), exportWh)
            hash := keccak256(p, 0xa0)
        }
    }
}
