"""Speed benchmarks: nstutils against the TensorFlow tutorial's recipe (see README.md)."""
