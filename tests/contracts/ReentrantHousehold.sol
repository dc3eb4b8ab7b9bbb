// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1363Receiver} from "@openzeppelin/contracts/interfaces/IERC1363Receiver.sol";

interface IWithdraw {
    function withdraw(uint256 amount) external;
}

/// An attacker for the tests: a household or trader account that is a contract. When the market pays it
/// (ERC-1363 calls `onTransferReceived`), it withdraws the same amount again before the first
/// withdrawal has returned, hoping to be paid twice. It records why the second try failed.
contract ReentrantHousehold is IERC1363Receiver {
    IWithdraw public immutable market;
    uint256 public received;
    bytes public reentryError;
    bool private _reentered;

    constructor(IWithdraw market_) {
        market = market_;
    }

    function attack(uint256 amount) external {
        market.withdraw(amount);
    }

    /// Act as the household (approve, commit, reveal...): call `target` with `data` from here.
    function execute(address target, bytes calldata data) external returns (bytes memory out) {
        bool ok;
        (ok, out) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(out, 32), mload(out))
            }
        }
    }

    function onTransferReceived(address, address, uint256 value, bytes calldata)
        external returns (bytes4)
    {
        received += value;
        if (!_reentered) {
            _reentered = true;
            try market.withdraw(value) {} catch (bytes memory reason) {
                reentryError = reason;
            }
        }
        return IERC1363Receiver.onTransferReceived.selector;
    }
}
