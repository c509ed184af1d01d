"""A merchant's side of the platform in sandbox mode: sealed requests, payments at the processor simulator, AIO
payment results, opened replies.
Used by the demo, the benchmark and the tests."""
