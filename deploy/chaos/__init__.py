"""The chaos run (issue 15): a paid-order stream under injected faults, then checks that nothing was lost or done
twice. `python -m deploy.chaos --orders N --seed S` (docs/chaos.md); tests/integration/test_zz_chaos.py runs a
short variant against the test suite's own processes."""
