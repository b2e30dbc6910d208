// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Request Network's ERC20FeeProxy (packages/smart-contracts/src/contracts/ERC20FeeProxy.sol),
/// ported from Solidity 0.5 to 0.8 with the same event, function and behaviour: it pulls
/// `_amount` from msg.sender to `_to`, the fee to `_feeAddress`, and emits the reference.
contract ERC20FeeProxy {
    event TransferWithReferenceAndFee(
        address tokenAddress,
        address to,
        uint256 amount,
        bytes indexed paymentReference,
        uint256 feeAmount,
        address feeAddress
    );

    fallback() external payable {
        revert("not payable fallback");
    }

    function transferFromWithReferenceAndFee(
        address _tokenAddress,
        address _to,
        uint256 _amount,
        bytes calldata _paymentReference,
        uint256 _feeAmount,
        address _feeAddress
    ) external {
        require(safeTransferFrom(_tokenAddress, _to, _amount), "payment transferFrom() failed");
        if (_feeAmount > 0 && _feeAddress != address(0)) {
            require(safeTransferFrom(_tokenAddress, _feeAddress, _feeAmount), "fee transferFrom() failed");
        }
        emit TransferWithReferenceAndFee(_tokenAddress, _to, _amount, _paymentReference, _feeAmount, _feeAddress);
    }

    /// transferFrom that accepts tokens returning nothing (non-standard ERC-20s) as success.
    function safeTransferFrom(address _tokenAddress, address _to, uint256 _amount) internal returns (bool result) {
        require(_tokenAddress.code.length > 0, "token is not a contract");
        bytes memory returned;
        (result, returned) = _tokenAddress.call(
            abi.encodeWithSignature("transferFrom(address,address,uint256)", msg.sender, _to, _amount)
        );
        if (result) {
            if (returned.length == 32) {
                result = abi.decode(returned, (bool));
            } else {
                require(returned.length == 0, "unexpected transferFrom return data");
            }
        }
    }
}
