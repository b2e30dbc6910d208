//! The contract interfaces payscan reads and calls.

alloy::sol! {
    /// ERC-20, as far as payments need it.
    #[derive(Debug, PartialEq, Eq)]
    interface IERC20 {
        event Transfer(address indexed from, address indexed to, uint256 value);
        function transfer(address to, uint256 amount) external returns (bool);
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function decimals() external view returns (uint8);
    }

    /// Request Network's ERC20FeeProxy.
    #[derive(Debug, PartialEq, Eq)]
    interface IERC20FeeProxy {
        event TransferWithReferenceAndFee(
            address tokenAddress,
            address to,
            uint256 amount,
            bytes indexed paymentReference,
            uint256 feeAmount,
            address feeAddress
        );
        function transferFromWithReferenceAndFee(
            address _tokenAddress,
            address _to,
            uint256 _amount,
            bytes calldata _paymentReference,
            uint256 _feeAmount,
            address _feeAddress
        ) external;
    }

    /// A Chainlink-style price feed (AggregatorV3Interface).
    #[derive(Debug, PartialEq, Eq)]
    interface IAggregatorV3 {
        function decimals() external view returns (uint8);
        function latestRoundData() external view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
    }
}
