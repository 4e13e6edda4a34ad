"""Helpers shared by the tests: ordinary modules, imported by conftests and test modules alike.

Conftests hold fixtures only; whatever a test module or a benchmark imports lives here:
  api          the usual passwords, and `Api` (the real app through aiohttp's test client)
  assertions   the one error shape, token shapes, JWT claims, direct database reads
  attacks      the attack tests' known JWT key, settings without throttling
  cli          running the `mrsm` script (with or without a terminal), its environment
  console      Chromium for the console tests, a tab on the console, the service they drive
  db           this run's PostgreSQL and database; a private PostgreSQL fault tests may stop
  pipes        the usual pipe and small /pipes request helpers
  servers      `run_server`: the one way to start and stop a service process
  throttling   small throttling limits, client addresses, where the counters live
  wire         raw bytes to a test server, the answer taken apart by hand
"""
