// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC1363} from "@openzeppelin/contracts/token/ERC20/extensions/ERC1363.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title EnergyCredit: the community's money on chain, one unit = one micro-euro (µ€).
/// @notice The operator mints credits against euros deposited outside the chain. A holder
/// redeems credits to get euros back: the credits are burned and `Redeemed` tells the
/// operator whom to pay. ERC-1363 lets a payer notify a receiving contract (`transferAndCall`),
/// as the community market does when it pays out to a household's contract.
contract EnergyCredit is ERC1363, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// A holder burned `amount` µ€ of credits; the operator owes them `amount` µ€ off chain.
    event Redeemed(address indexed holder, uint256 amount);

    constructor(address admin) ERC20("Energy Credit", "ECR") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice One unit is one micro-euro.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Create `amount` µ€ of credits for `to`, against money received off chain.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Burn `amount` µ€ of the caller's credits to be paid out off chain.
    function redeem(uint256 amount) external {
        _burn(msg.sender, amount);
        emit Redeemed(msg.sender, amount);
    }

    /// @notice ERC-165: the token is an ERC-1363 token with access control.
    function supportsInterface(bytes4 interfaceId)
        public view override(ERC1363, AccessControl) returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }
}
