"""hu-book companion: data, metrics, classical and deep unmixing methods for the book's chapters."""

__version__ = "0.1.0"
