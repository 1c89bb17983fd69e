"""ru-selfalign: self-alignment of a causal LM towards brief, useful Russian answers."""

import os

# Bitwise-reproducible MKL on CPU: without a fixed code path MKL may pick kernels by memory alignment and
# shrink its thread count under load, so two runs with the same seed differ in the last float bits.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
os.environ.setdefault("MKL_DYNAMIC", "FALSE")

__version__ = "0.1.0"
