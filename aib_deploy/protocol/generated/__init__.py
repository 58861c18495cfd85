"""Stubs generated from protos/aib/v1/attention.proto by scripts/gen_protos.py; never edit by hand."""
