"""`aib perf`: a load generator for any KServe v2 or aib.v1 server (as Triton's perf_analyzer)."""
