"""``make bench``: the performance figures of posehybrid, written to ``bench.json``.

One module per figure (``spatial``, ``detector``, ``lightning_overhead``, ``loader``,
``inference``, ``memory``, ``gpu``); ``run`` is the entry point and ``common`` holds the timing,
statistics and figure helpers they share, ``machine`` the CPU description and theoretical peak,
``reference`` the dense kernels an MFU divides by. ``profile_inference`` (not part of the run)
shows where the batch-1 inference time goes.
"""
