//! The contract interfaces payscan reads and calls, each declared once: the followers decode
//! these events, custody signs these calls, the API hands these calldata to wallets.

alloy::sol! {
    /// ERC-20, as far as payments, sweeps and payouts need it.
    #[derive(Debug, PartialEq, Eq)]
    interface IERC20 {
        event Transfer(address indexed from, address indexed to, uint256 value);
        function transfer(address to, uint256 amount) external returns (bool);
        function transferFrom(address from, address to, uint256 amount) external returns (bool);
        function approve(address spender, uint256 amount) external returns (bool);
        function allowance(address owner, address spender) external view returns (uint256);
        function balanceOf(address owner) external view returns (uint256);
        function decimals() external view returns (uint8);
    }

    /// EIP-2612: approvals by signature, for the permit relay and permit sweeps.
    #[derive(Debug, PartialEq, Eq)]
    interface IERC20Permit {
        function nonces(address owner) external view returns (uint256);
        function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;
    }

    /// EIP-2612's signed struct.
    #[derive(Debug, PartialEq, Eq)]
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
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

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, Bytes, Log as PrimitiveLog, LogData, B256, U256};
    use alloy::rpc::types::Log;
    use alloy::sol_types::SolEvent;
    use proptest::prelude::*;

    use super::*;

    fn log(address: Address, topics: Vec<B256>, data: Vec<u8>) -> Log {
        Log {
            inner: PrimitiveLog { address, data: LogData::new_unchecked(topics, Bytes::from(data)) },
            ..Log::default()
        }
    }

    fn cases() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000);
        ProptestConfig::with_cases(cases)
    }

    proptest! {
        #![proptest_config(cases())]

        /// A node's logs are untrusted input: any topics and data decode as a `Transfer` or a
        /// fee-proxy payment, or are refused, never a panic; what decodes as a `Transfer` carries
        /// its signature and the amount its data says.
        #[test]
        fn arbitrary_logs_decode_or_are_refused(
            topics in proptest::collection::vec(any::<[u8; 32]>(), 0..6),
            data in proptest::collection::vec(any::<u8>(), 0..400),
            signed in any::<bool>(),
        ) {
            let mut topics: Vec<B256> = topics.into_iter().map(B256::from).collect();
            if signed && !topics.is_empty() {
                topics[0] = IERC20::Transfer::SIGNATURE_HASH;
            }
            let raw = log(Address::ZERO, topics.clone(), data.clone());
            if let Ok(transfer) = raw.log_decode::<IERC20::Transfer>() {
                prop_assert_eq!(topics.first(), Some(&IERC20::Transfer::SIGNATURE_HASH));
                prop_assert_eq!(U256::from_be_slice(&data[..32]), transfer.inner.data.value);
            }
            let _ = raw.log_decode::<IERC20FeeProxy::TransferWithReferenceAndFee>();
        }

        /// Any `Transfer` a token emits decodes to itself.
        #[test]
        fn transfers_round_trip(from in any::<[u8; 20]>(), to in any::<[u8; 20]>(), value in any::<[u64; 4]>()) {
            let event = IERC20::Transfer { from: from.into(), to: to.into(), value: U256::from_limbs(value) };
            let data = event.encode_log_data();
            let raw = log(Address::ZERO, data.topics().to_vec(), data.data.to_vec());
            let decoded = raw.log_decode::<IERC20::Transfer>().map(|l| l.inner.data);
            prop_assert_eq!(decoded.ok(), Some(event));
        }
    }
}
