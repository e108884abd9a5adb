"""Decoding trained runs: beam search, ensembles, text in and out, n-best rescoring, encoder states."""
