"""The wire contract, defined once, below everything that speaks it (`aib serve`, `aib stream`, `aib export
triton` and its Triton models): the generated gRPC stubs (aib.v1, KServe v2, Triton's model config), a
model's `ModelSignature`, the Triton model config, and the conversions between requests, frames,
predictions and the contract's tensors.
"""
