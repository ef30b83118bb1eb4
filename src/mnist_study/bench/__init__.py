"""The benchmark (make bench): throughput, FLOP/s, time to accuracy, memory; nothing imports it."""
