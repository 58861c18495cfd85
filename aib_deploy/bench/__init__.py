"""`aib bench`: latency and throughput of backends side by side, in one run.

Each backend runs the same normalized batch; after warm-up, every batch size is
timed `runs` times and reported as median, p90, p95 and p99 latency and images
per second, with ratios to the first backend (`measure`, `report`). The suite
builds the paper's architectures with fresh weights and runs every backend
present (`suite`).
"""
