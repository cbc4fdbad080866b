"""Experiment functions of the chapters, one module per chapter (data in, records out)."""
