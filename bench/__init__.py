"""Benchmarks of the booking backend: run ``.venv/bin/python -m bench`` (see ``bench/run.py``)."""
