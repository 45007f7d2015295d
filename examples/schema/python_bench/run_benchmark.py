"""Runs the Python package binary_protocol's own benchmark suite, unchanged,
against a server of the protocol in pybench.yaml, such as binproto's:

    binproto serve --schema examples/schema/python_bench/pybench.yaml --addr 127.0.0.1:7700 &
    binproto gen python examples/schema/python_bench/pybench.yaml --out /tmp/pybench_protocol.py
    PYTHONPATH=../shared/python:/tmp /usr/bin/python3 examples/schema/python_bench/run_benchmark.py 127.0.0.1 7700

It needs the benchmark subpackage's dependencies (psutil, matplotlib, seaborn:
Debian's python3-psutil, python3-matplotlib, python3-seaborn). Each benchmark
is the package's class with the package's runner and reporter; this script
only chooses their configurations, as a user of the package does.
"""

import asyncio
import random
import sys

from binary_protocol import BinaryClient
from binary_protocol.benchmark import (BenchmarkConfig, BenchmarkOrchestrator, FixedSizeBenchmark,
                                       RealisticBenchmark, VariableSizeBenchmark)

import pybench_protocol as proto


def main(host: str, port: int, iterations: int) -> None:
    orch = BenchmarkOrchestrator(BinaryClient, proto.protocol_config())
    orch.add_config("fixed", BenchmarkConfig(
        iterations=iterations, host=host, port=port, message_type=proto.MessageType.SENSOR_DATA,
        custom_config={"message_format": {"sensor1": 1.5, "sensor2": -2.25, "sensor3": 0.125, "sensor4": 3.0},
                       "dynamic_fields": {"sensor1": lambda: random.uniform(-100, 100)}}))
    orch.create_benchmark(FixedSizeBenchmark, "fixed")
    for size in (64, 4096, 65536):
        name = f"variable-{size}"
        orch.add_config(name, BenchmarkConfig(iterations=iterations, host=host, port=port, message_size=size,
                                              message_type=proto.MessageType.BENCHMARK))
        orch.create_benchmark(VariableSizeBenchmark, name)
    orch.add_config("realistic", BenchmarkConfig(
        host=host, port=port, duration=3.0, message_type=proto.MessageType.REALISTIC,
        custom_config={"num_clients": 20, "ramp_up_time": 0.5, "min_size": 10, "max_size": 1000}))
    orch.create_benchmark(RealisticBenchmark, "realistic")
    asyncio.run(orch.run_all(save_results=False))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
