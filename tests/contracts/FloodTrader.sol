// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface IAuctionMarket {
    function commit(uint32 slot, bytes32 hash, uint256 deposit) external returns (uint256);
    function reveal(uint32 slot, uint256 id, bool isBid, uint256 price, uint256 qty,
                    bytes32 salt) external;
    function commitmentHash(uint32 slot, address trader, bool isBid, uint256 price, uint256 qty,
                            bytes32 salt) external view returns (bytes32);
}

/// An attacker for the tests: a member household that floods a round, sealing many orders in one
/// transaction and opening them all in another, first in the reveal window (issue 14).
contract FloodTrader {
    struct Order {
        bool isBid;
        uint256 price;
        uint256 qty;
        uint256 deposit;
    }

    IAuctionMarket public immutable market;
    mapping(uint32 slot => Order[]) internal _orders;
    mapping(uint32 slot => uint256[]) internal _ids;
    /// Reveals the market accepted, per slot.
    mapping(uint32 slot => uint256) public opened;

    constructor(IERC20 credit, IAuctionMarket market_) {
        market = market_;
        credit.approve(address(market_), type(uint256).max);
    }

    /// Seal `orders` for `slot` (salt: the order's position).
    function seal(uint32 slot, Order[] calldata orders) external {
        for (uint256 i = 0; i < orders.length; ++i) {
            Order calldata o = orders[i];
            uint256 n = _orders[slot].length;
            bytes32 hash = market.commitmentHash(slot, address(this), o.isBid, o.price, o.qty,
                                                 bytes32(n));
            _ids[slot].push(market.commit(slot, hash, o.deposit));
            _orders[slot].push(o);
        }
    }

    /// Try to open every order sealed for `slot` not opened yet; refusals are skipped.
    function open(uint32 slot) external {
        Order[] storage orders = _orders[slot];
        for (uint256 i = 0; i < orders.length; ++i) {
            Order storage o = orders[i];
            try market.reveal(slot, _ids[slot][i], o.isBid, o.price, o.qty, bytes32(i)) {
                opened[slot] += 1;
                o.qty = 0; // opened: a later call skips it (its hash no longer matches)
            } catch {} // solhint-disable-line no-empty-blocks
        }
    }
}
