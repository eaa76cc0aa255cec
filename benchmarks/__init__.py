"""``make bench``: the performance figures of posehybrid, written to ``bench.json``.

One module per figure (``spatial``, ``detector``, ``lightning_overhead``, ``loader``,
``inference``, ``memory``, ``gpu``); ``run`` is the entry point and ``common`` holds the timing,
statistics and machine-description helpers they share.
"""
