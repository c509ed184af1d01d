"""A merchant's side of the platform in sandbox mode: sealed requests, AIO payment results, opened replies.
Used by the demo, the benchmark and the tests."""
