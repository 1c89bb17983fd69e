"""ru-selfalign: self-alignment of a causal LM towards brief, useful Russian answers."""

import os
from pathlib import Path


def _mkl_code_path() -> str:
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    return "AVX2" if "avx2" in flags else "COMPATIBLE"


# Bitwise-reproducible MKL on CPU. Measured on this 2-core AVX-512 machine (the smoke judge on the same inputs, run
# again and again): MKL_CBWR=AUTO,STRICT and AVX512,STRICT each gave two or three different outputs (probabilities
# differing in the 4th decimal); AVX2,STRICT gave identical bytes in 17 of 17 runs, about 10% slower. MKL_DYNAMIC=FALSE
# keeps MKL's thread count fixed.
os.environ.setdefault("MKL_CBWR", f"{_mkl_code_path()},STRICT")
os.environ.setdefault("MKL_DYNAMIC", "FALSE")
# SimPO comes from trl.experimental.cpo (CPOTrainer); we chose it knowingly, so its import warning is noise in every log.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

__version__ = "0.1.0"
