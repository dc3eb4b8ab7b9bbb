// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// A small contract for the toolchain's tests: state, events, and every revert shape.
contract Fixture {
    error TooLarge(uint256 value, uint256 limit);

    uint256 public stored;
    event Stored(address indexed by, uint256 value);

    constructor(uint256 initial) {
        stored = initial;
    }

    function store(uint256 value) external {
        require(value != 13, "unlucky number");
        if (value > 1000) revert TooLarge(value, 1000);
        stored = value;
        emit Stored(msg.sender, value);
    }

    function divide(uint256 by) external {
        stored = stored / by;
    }

    function failBare() external pure {
        revert();
    }

    function elapsed(uint256 since) external view returns (uint256) {
        return block.timestamp - since;
    }
}
