"""How the networks run: the same functions in faster forms, for the search and for training.

precision.py chooses the arithmetic ("auto", "bf16", "fp32-fast", "fp32") and gives its autocast,
dtype and memory layout; fast_layers.py re-expresses the thin convolutions that run slowly as
exact, faster forms with the same parameters; folding.py makes the search's frozen copies of G and
D, each BatchNorm folded into the convolution before it. Every form computes what the network
computes, up to rounding; "fp32" runs the networks as they are.
"""
