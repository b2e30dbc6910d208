// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A Chainlink-style price feed (AggregatorV3Interface's read side) whose answer the tests set.
contract PriceFeed {
    uint8 public immutable decimals;
    int256 private answer;
    uint256 private updatedAt;
    uint80 private roundId;

    constructor(uint8 _decimals, int256 _answer) {
        decimals = _decimals;
        set(_answer, block.timestamp);
    }

    function set(int256 _answer, uint256 _updatedAt) public {
        answer = _answer;
        updatedAt = _updatedAt;
        roundId += 1;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, roundId);
    }
}
