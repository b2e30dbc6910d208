//! The contract interfaces payscan reads and calls.

alloy::sol! {
    /// ERC-20, as far as payments need it.
    #[derive(Debug, PartialEq, Eq)]
    interface IERC20 {
        event Transfer(address indexed from, address indexed to, uint256 value);
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function decimals() external view returns (uint8);
    }
}
