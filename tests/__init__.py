"""The test suite of fastlayers (a package, so that ``bench`` can import its registry)."""
