"""The session and batch lifecycle: records, the scheduler, clocks, durations, the event log.

Plain Python with no gRPC, SQL, threads or asyncio; the server drives it (see
``scheduler.Scheduler`` for the documented rules it implements).
"""
