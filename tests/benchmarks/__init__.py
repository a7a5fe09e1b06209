"""The benchmark: skiplock against a bare SKIP LOCKED loop and its peers. See README.md here.

Not part of the test run: no module here is named test_*.py, so pytest collects none of them.
"""
