"""ru-selfalign: self-alignment of a causal LM towards brief, useful Russian answers."""

__version__ = "0.1.0"
