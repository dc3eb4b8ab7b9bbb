// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface ICommit {
    function commit(uint32 slot, bytes32 hash, uint256 deposit) external returns (uint256);
}

/// An attacker for the tests: one transaction seals `count` orders of 1 µ€ each in a round, to
/// make the round's commitments too many for anyone to load (the classroom's attack 5).
contract SpamCommitter {
    ICommit public immutable market;

    constructor(IERC20 credit, ICommit market_) {
        market = market_;
        credit.approve(address(market_), type(uint256).max);
    }

    function spam(uint32 slot, uint256 count) external {
        for (uint256 i = 0; i < count; ++i) {
            market.commit(slot, keccak256(abi.encode(block.number, i)), 1);
        }
    }
}
