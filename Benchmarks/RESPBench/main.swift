// resp-bench: RESP client and parser benchmarks (Benchmarks/redis/run.sh). Work in progress.
import RESP
print("resp-bench: not yet implemented")
