// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// For the book: two ways to get an order book's merit order on chain. `sortBids` does what a
/// naive market would, an insertion sort of the stored bids (quadratic in the orders);
/// `checkBids` only checks a permutation sorted off chain, as AuctionMarket does (linear).
contract NaiveSortMarket {
    uint256[] public prices;
    uint32[] public order;

    error NotSorted(uint256 position);

    /// Add bids to the book (prices in µ€/kWh).
    function addBids(uint256[] calldata more) external {
        for (uint256 i = 0; i < more.length; ++i) prices.push(more[i]);
    }

    /// Sort the bids, highest price first (ties by index), into `order`, in storage.
    function sortBids() external {
        delete order;
        for (uint256 i = 0; i < prices.length; ++i) {
            order.push(uint32(i));
            for (uint256 j = i; j > 0 && prices[order[j - 1]] < prices[order[j]]; --j) {
                (order[j - 1], order[j]) = (order[j], order[j - 1]);
            }
        }
    }

    /// Check that `permutation` lists every bid once, highest price first (ties by index), and
    /// store it as `order`.
    function checkBids(uint32[] calldata permutation) external {
        if (permutation.length != prices.length) revert NotSorted(permutation.length);
        for (uint256 i = 0; i < permutation.length; ++i) {
            if (permutation[i] >= prices.length) revert NotSorted(i);
            if (i > 0) {
                (uint256 last, uint256 here) = (prices[permutation[i - 1]], prices[permutation[i]]);
                if (here > last || (here == last && permutation[i] <= permutation[i - 1])) {
                    revert NotSorted(i);
                }
            }
        }
        order = permutation;
    }
}
